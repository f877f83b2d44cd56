"""An exported ensemble in words: the accuracy-versus-members curve as data for
``metrics.json``, and the lines ``mnist-hpo export`` prints from that file's contents.

Plain data in, plain data or text out: no Keras, so the lines are testable on a dict.
"""

from __future__ import annotations

from typing import Any

from mnist_hpo.reports.ensemble_pruning import Contribution, Row


def contribution_fields(c: Contribution | None, trial: int | None = None
                        ) -> dict[str, Any] | None:
    """A contribution as JSON: images gained and lost, z, useful (and the trial)."""
    if c is None:
        return None
    fields: dict[str, Any] = {"trial": trial} if trial is not None else {}
    return fields | {"gained": c.gained, "lost": c.lost, "z": round(c.z, 3),
                     "useful": c.useful}


def curve_rows(rows: list[Row], candidates: list[tuple[int, dict[str, float]]],
               exported: Row) -> list[dict[str, Any]]:
    """One entry per ``--ensemble K``, K = 1 first, for ``metrics.json``.

    ``candidates``: each candidate's trial number and recorded cost (measured on the worker
    that trained it). A row's parameters and time per image at batch 1 are its pruned
    members' sums, an estimate before anything is built (``None`` when a member's cost is
    unknown). Validation accuracy is the only accuracy here: choosing K by the test set
    would spend it.
    """
    def trials(weights: dict[int, float]) -> list[int]:
        return [candidates[i][0] for i in weights]

    entries = []
    for row in rows:
        pruned = row.pruned
        costs = [candidates[i][1] for i in pruned.weights]
        entries.append({
            "max_members": row.cap,
            "greedy": {"trials": trials(row.greedy.weights),
                       "weights": [round(w, 4) for w in row.greedy.weights.values()],
                       "val_accuracy": row.greedy.score.accuracy},
            "pruned": {"trials": trials(pruned.weights),
                       "weights": [round(w, 4) for w in pruned.weights.values()],
                       "val_accuracy": pruned.score.accuracy,
                       "val_log_loss": pruned.score.log_loss,
                       "params": _total(costs, "params", int),
                       "latency_ms_batch_1": _total(costs, "latency_ms_batch_1", float),
                       "dropped": [contribution_fields(c, candidates[c.member][0])
                                   for c in pruned.dropped],
                       "against_best": contribution_fields(pruned.against_best)},
            "exported": row is exported})
    return entries


def _total(costs: list[dict[str, float]], key: str, kind: type[int] | type[float]
           ) -> int | float | None:
    values = [c.get(key) for c in costs]
    return None if any(v is None for v in values) else kind(sum(v or 0 for v in values))


def summary_lines(m: dict[str, Any], out: str, input_text: str) -> list[str]:
    """What ``mnist-hpo export`` prints after an ensemble export, from its metrics."""
    ens, single, sel = m["ensemble"], m["best_single"], m["selection"]
    files = "model.keras, saved_model/, config.json, metrics.json"
    trials = ", ".join(str(r["trial"]) for r in m["members"])
    lines = []
    if m["curve"] is None:
        lines.append(f"Exported an ensemble of trials {trials} to {out}/: {files}")
        lines.append(f"Chosen: {sel['by']}; nothing fitted to the validation images.")
    elif ens["members"] == 1:
        lines.append(f"No ensemble of these trials beats trial {m['members'][0]['trial']} alone "
                     f"on the validation images by more than their noise; exported it alone "
                     f"to {out}/ ({files})")
    else:
        lines.append(f"Exported an ensemble of {ens['members']} trials to {out}/: {files}")
    if m["curve"] is not None:
        lines += _selection_lines(m)
    lines.append("Members:")
    for row in m["members"]:
        lines.append(f"  trial {row['trial']:>3} (epoch {row['epoch']}) weight "
                     f"{row['weight']:.2f}  val {row['val_accuracy']:.4f}  "
                     f"test {row['test_accuracy']:.4f}")
    lines.append(f"Reloaded in a fresh process: predictions match the members' average "
                 f"(largest difference {m['reload_max_difference']:.1e})")
    lines.append(f"{'':<24}{'val_accuracy':>13}{'test_accuracy':>14}{'params':>11}"
                 f"{'file MB':>9}{'ms/image b1':>13}{'ms/image b256':>15}")
    for name, row in (("ensemble", ens), (f"best single (trial {single['trial']})", single)):
        c = row["cost"]
        lines.append(f"{name:<24}{row['val_accuracy']:>13.4f}{row['test_accuracy']:>14.4f}"
                     f"{c['params']:>11,}{c['file_bytes'] / 1e6:>9.2f}"
                     f"{c['latency_ms_batch_1']:>13.3f}{c['latency_ms_batch_256']:>15.4f}")
    lines.append(f"Test accuracy on {m['test_images']:,} test images, evaluated once. The "
                 f"model takes {input_text}.")
    return lines


def _selection_lines(m: dict[str, Any]) -> list[str]:
    """How the members were chosen, and the curve a user picks ``--ensemble K`` from."""
    sel = m["selection"]
    z, images = sel["noise_z"], sel["validation_images"]
    dropped = ", ".join(f"trial {c['trial']} ({c['gained']:+d} {-c['lost']:+d} images, "
                        f"z {c['z']:.2f})" for c in sel["dropped"]) or "none"
    lines = [
        f"Candidates: {sel['eligible']} trial(s) with val_accuracy >= "
        f"{sel['eligible_from']:.4f}, within {z:g} standard errors of the best on "
        f"{images:,} validation images ({sel['not_eligible']} below, not considered); "
        f"{sel['candidates']} verified checkpoint(s).",
        f"Exported: row K = {sel['row']}, where greedy selection chose "
        f"{sel['greedy_members']} and pruning kept "
        f"{sel['pruned_members']}: a member stays if removing it costs at least {z:g} "
        f"standard errors of the images where the ensembles with and without it differ. "
        f"Dropped: {dropped}."]
    against = sel.get("against_best")
    if against and not against["useful"]:
        lines.append(f"The pruned ensemble does not beat the best trial alone by {z:g} standard "
                     f"errors ({against['gained']:+d} {-against['lost']:+d} images): the best "
                     f"trial alone is exported.")
    lines.append("Validation accuracy by K (* exported): greedy selection of at most K members, "
                 "then pruned; --ensemble K exports the most accurate pruned row up to K; "
                 "params and ms/image: the pruned members' recorded sums")
    lines.append(f"  {'K':>3}  {'greedy':>6}  {'val_acc':>7}  {'pruned':>6}  {'val_acc':>7}  "
                 f"{'params':>11}  {'ms/image b1':>11}  trials (weights)")
    for row in m["curve"]:
        greedy, pruned = row["greedy"], row["pruned"]
        params = "-" if pruned["params"] is None else f"{pruned['params']:,.0f}"
        latency = ("-" if pruned["latency_ms_batch_1"] is None
                   else f"{pruned['latency_ms_batch_1']:.2f}")
        members = ", ".join(f"{t} ({w:.2f})"
                            for t, w in zip(pruned["trials"], pruned["weights"], strict=True))
        lines.append(f"{'*' if row['exported'] else ' '} {row['max_members']:>3}  "
                     f"{len(greedy['trials']):>6}  {greedy['val_accuracy']:>7.4f}  "
                     f"{len(pruned['trials']):>6}  {pruned['val_accuracy']:>7.4f}  "
                     f"{params:>11}  {latency:>11}  {members}")
    return lines
