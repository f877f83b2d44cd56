"""The simulated search's figures from its driver's clock, its table, and its figure
(``benchmarks/simulated_search.py``): compute first, then print and draw."""

from __future__ import annotations

import math
import pstats
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.driver_clock import Clock

GROUPS = {"sampler": ("suggest",),
          "policy": ("admit", "choose", "on_result", "on_end", "budget_reached"),
          "tell": ("on_trial_result", "on_trial_complete")}
GROUPS["all"] = tuple(k for kinds in GROUPS.values() for k in kinds)
PARTS = ("snapshot",)  # inside the policy's calls: shown apart, not added again


def timing(clock: Clock, kinds: Sequence[str], trials: int, buckets: bool = True
           ) -> dict[str, Any]:
    """The CPU time of the driver's calls of ``kinds``: how many, the total (profiled calls
    counted at the others' mean), mean, p50, p99, the mean while the first and the last
    10 % of ``trials`` were created, and its growth with the trials created."""
    found = [clock.samples[k] for k in kinds if k in clock.samples]
    if not found:
        return {"count": 0, "total_s": 0.0}
    seconds = np.concatenate([np.frombuffer(s.seconds, dtype=np.float64) for s in found])
    history = np.concatenate([np.asarray(s.history, dtype=np.int64) for s in found])
    plain = ~np.concatenate([np.asarray(s.profiled, dtype=bool) for s in found])
    if not plain.any():  # every call profiled: their times are all there is
        plain[:] = True
    timed, at = seconds[plain], history[plain]
    out: dict[str, Any] = {
        "count": int(seconds.size), "total_s": float(timed.sum() * seconds.size / timed.size),
        "mean_s": float(timed.mean()), "p50_s": float(np.percentile(timed, 50)),
        "p99_s": float(np.percentile(timed, 99)),
        "first10_mean_s": _mean(timed[at <= trials / 10]),
        "last10_mean_s": _mean(timed[at > trials * 9 / 10])}
    if buckets:
        # Deciles of the trials created when the call was made: the last one holds the
        # search's tail too, once every configuration has been created.
        decile = np.clip(np.ceil(at * 10 / trials).astype(int) - 1, 0, 9)
        means = [_mean(timed[decile == i]) for i in range(10)]
        out["deciles"] = [{"trials_from": i * trials / 10, "trials_to": (i + 1) * trials / 10,
                           "count": int((decile == i).sum()), "mean_s": means[i]}
                          for i in range(10)]
        out["exponent_within"] = slope([((i + 0.5) * trials / 10, means[i])
                                        for i in range(10)])
        # Without the first tenth: there the prior draws (no model) and nothing has
        # reported yet, a start-up regime the growth at scale says nothing of.
        out["exponent_within_from_2nd_tenth"] = slope([((i + 0.5) * trials / 10, means[i])
                                                       for i in range(1, 10)])
    return out


def _mean(values: np.ndarray[Any, Any]) -> float | None:
    return float(values.mean()) if values.size else None


def slope(points: Sequence[tuple[float, float | None]]) -> float | None:
    """Least-squares slope of log y against log x (None with fewer than two points)."""
    kept = [(math.log(x), math.log(y)) for x, y in points if x > 0 and y]
    if len({x for x, _ in kept}) < 2:
        return None
    xs, ys = np.array(kept).T
    return float(np.polyfit(xs, ys, 1)[0])


def profile_top(clock: Clock, n: int = 15) -> dict[str, Any]:
    """The ``n`` functions of the driver's profiled calls with the most cumulative time."""
    if clock.profile is None:
        return {"every": 0, "top": []}
    # Stats.stats, not get_stats_profile(): the latter keys functions by name alone, and
    # the searcher's suggest and the space's would be one.
    stats = pstats.Stats(clock.profile).stats  # type: ignore[attr-defined]
    rows = []
    for (path, _, name), (_, calls, own, cumulative, _) in stats.items():
        if path == "~" or (Path(path).name, name) in _WRAPPERS:
            continue  # cProfile's own switch; the wrappers around every driver call
        rows.append({"function": f"{_short(path)}:{name}", "calls": calls,
                     "tottime_s": own, "cumtime_s": cumulative})
    own = sorted(rows, key=lambda r: -r["tottime_s"])[:n]
    rows.sort(key=lambda r: -r["cumtime_s"])
    return {"every": clock.every, "calls_profiled": clock.calls_profiled,
            "calls": clock.calls, "top": rows[:n], "top_own_time": own}


_WRAPPERS = {("driver_clock.py", "call"), ("driver_clock.py", "part"),
             ("simulator.py", "ask"), ("simulator.py", "_ask_policy")}


def _short(path: str) -> str:
    """A source file as ``package/module.py``: below site-packages, the editable install's
    build folder, or the repository."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1]
    if "__editable__" in path and "/mnist_hpo/" in path:
        return "mnist_hpo/" + path.split("/mnist_hpo/", 1)[1]
    return path.removeprefix(str(Path(__file__).resolve().parents[1]) + "/")


def exponents(cases: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per worker count, the log-log slope of the mean per-decision CPU time against the
    trials of its cases (from the fewest to the most trials)."""
    out: dict[str, dict[str, Any]] = {}
    for workers in sorted({c["workers"] for c in cases}):
        mine = sorted((c for c in cases if c["workers"] == workers), key=lambda c: c["trials"])
        if len(mine) < 2:
            continue
        out[str(workers)] = {"trials": [c["trials"] for c in mine]} | {
            group: slope([(c["trials"], c["decisions"][group].get("mean_s")) for c in mine])
            for group in GROUPS}
    return out


def exponents_within(cases: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per worker count, the growth within its largest case: the log-log slope of the mean
    per-decision CPU time over the tenths of the trials created, from the 2nd tenth on.

    The reading beside :func:`exponents`' across cases: at 1,000 workers a 1,000-trial
    search asks every trial before the first result returns, so its sampler never models
    (0.5 ms an ask against 16 ms once it does) and the slope across cases measures that
    switch, not how the time grows with the trials seen. The first tenth is left out for
    the same reason: the prior draws and nothing has reported yet."""
    out: dict[str, dict[str, Any]] = {}
    for workers in sorted({c["workers"] for c in cases}):
        largest = max((c for c in cases if c["workers"] == workers), key=lambda c: c["trials"])
        out[str(workers)] = {"trials": largest["trials"], "from_tenth": 2} | {
            group: largest["decisions"][group].get("exponent_within_from_2nd_tenth")
            for group in GROUPS}
    return out


def table(cases: Sequence[dict[str, Any]]) -> str:
    """The cases as a markdown table (CPU times in ms per decision)."""
    lines = ["| workers | trials | trial-epochs | simulated | driver CPU | busy | "
             "per decision mean / p50 / p99 ms | sampler ms, first → last 10 % | "
             "policy ms, first → last 10 % (snapshot share) | tell ms, first → last 10 % | "
             "exponent within: all (sampler, policy, tell) | "
             "exponent within, from the 2nd tenth: all | best val / pool best |",
             "|" + "---|" * 13]
    for c in cases:
        d = c["decisions"]
        growth = [f"{_ms(d[g].get('first10_mean_s'))} → {_ms(d[g].get('last10_mean_s'))}"
                  for g in ("sampler", "policy", "tell")]
        snapshots = c["kinds"].get("snapshot", {}).get("total_s", 0.0)
        growth[1] += f" ({snapshots / d['policy']['total_s']:.0%})" \
            if d["policy"]["total_s"] else ""
        within = ", ".join(_exp(d[g].get("exponent_within")) for g in ("sampler", "policy",
                                                                     "tell"))
        lines.append(
            f"| {c['workers']:,} | {c['trials']:,} | {c['epochs_trained']:,} | "
            f"{c['simulated_s'] / 3600:.2f} h | {c['driver_cpu_s']:.1f} s | "
            f"{c['busy_fraction']:.3f} | {_ms(d['all']['mean_s'])} / {_ms(d['all']['p50_s'])}"
            f" / {_ms(d['all']['p99_s'])} | {' | '.join(growth)} | "
            f"{_exp(d['all'].get('exponent_within'))} ({within}) | "
            f"{_exp(d['all'].get('exponent_within_from_2nd_tenth'))} | "
            f"{c['best_val']:.4f} / {c['pool_best']:.4f} |")
    return "\n".join(lines)


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{1000 * seconds:.2f}"


def report(cases: Sequence[dict[str, Any]], fresh: Sequence[tuple[int, int]]) -> None:
    """Print the table, the exponents and the profiles of the cases run now."""
    print(table(cases))
    print("\nbusy = driver CPU s / simulated s (above 1, results come faster than the driver "
          "decides; simulated time assumes it keeps up); per decision: each call of the sampler "
          "(suggest), the policy (admit, choose, on_result, on_end, budget_reached, each with "
          "the snapshot it is asked with: its share in brackets) or the searcher told (a "
          "result, an end); first/last 10 %: while those trials were created; exponent "
          "within: log-log slope over the run's tenths of its trials created (all of them, "
          "or from the 2nd tenth on: the first is the start-up, prior draws and no results "
          "yet; the last holds the search's tail, every trial created)")
    for workers, fit in exponents(cases).items():
        growth = ", ".join(f"{g} {_exp(fit[g])}" for g in GROUPS)
        print(f"{workers} workers, across cases of trials {fit['trials']}: per-decision CPU "
              f"grows as trials^{_exp(fit['all'])} ({growth}); done criterion (≤ 1.1): "
              f"{_met(fit['all'])}")
    for workers, fit in exponents_within(cases).items():
        growth = ", ".join(f"{g} {_exp(fit[g])}" for g in GROUPS)
        print(f"{workers} workers, within the {fit['trials']:,}-trial case, from its 2nd "
              f"tenth of trials created on: per-decision CPU grows as trials seen^"
              f"{_exp(fit['all'])} ({growth}); done criterion (≤ 1.1): {_met(fit['all'])}")
    for c in cases:
        if (c["workers"], c["trials"]) not in fresh or not c["profile"]["top"]:
            continue
        prof = c["profile"]
        print(f"\nprofile, {c['workers']} workers × {c['trials']} trials ("
              f"{prof['calls_profiled']:,} of the driver's {prof['calls']:,} calls), by "
              f"cumulative time:\n  {'cumulative s':>12} {'own s':>8} {'calls':>9}  function")
        for row in prof["top"]:
            print(f"  {row['cumtime_s']:12.3f} {row['tottime_s']:8.3f} {row['calls']:>9}  "
                  f"{row['function']}")
        print("  by own time: " + "; ".join(f"{r['function']} {r['tottime_s']:.3f} s"
                                            for r in prof["top_own_time"][:5]))


def _exp(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _met(exponent: float | None) -> str:
    return "met" if exponent is not None and exponent <= 1.1 else "NOT met"




def plot(cases: Sequence[dict[str, Any]], out: Path) -> None:
    """``simulated_search.png``/``.svg``: mean CPU time per decision against the trials
    created, log-log: a thin line per case (its deciles), a thick one per worker count
    through its cases' means, and a line of slope 1 for reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, workers in enumerate(sorted({c["workers"] for c in cases})):
        colour = colours[i % len(colours)]
        mine = sorted((c for c in cases if c["workers"] == workers), key=lambda c: c["trials"])
        for j, c in enumerate(mine):
            rows = [r for r in c["decisions"]["all"]["deciles"] if r["count"]]
            ax.plot([(r["trials_from"] + r["trials_to"]) / 2 for r in rows],
                    [1000 * r["mean_s"] for r in rows], color=colour, linewidth=0.8,
                    alpha=0.6, marker=".",
                    label=None if i or j else "one case, by tenths of its trials created")
        ax.plot([c["trials"] for c in mine],
                [1000 * c["decisions"]["all"]["mean_s"] for c in mine], color=colour,
                linewidth=2.5, marker="o", label=f"{workers:,} workers: mean of each case")
    x0, x1 = min(c["trials"] for c in cases), max(c["trials"] for c in cases)
    y0 = min(1000 * c["decisions"]["all"]["mean_s"] for c in cases)
    ax.plot([x0 / 10, x1], [y0 / 10, y0 * x1 / x0], color="grey", linestyle=":",
            label="slope 1 (linear in trials)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("trials created so far (thick lines: a case's --trials)")
    ax.set_ylabel("driver CPU per decision, ms (mean)")
    ax.set_title("Simulated search: the driver's CPU time per decision")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    for ext in ("png", "svg"):
        fig.savefig(out / f"simulated_search.{ext}", dpi=120, bbox_inches="tight")
    plt.close(fig)
