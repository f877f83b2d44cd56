"""``mnist-hpo export --ensemble``, ``--trial N,M`` and ``--warm-starts``.

The real exports (marked slow) run on copies of the session's real searches, without Ray:
``budget_run`` (trials 1 and 2 ran 4 epochs, trial 3 was cut after 1; 1,000 validation
images) and ``search_run`` (two trials learn, two stopped at epoch 1 at chance). The bad
input lines run on an experiment the tests write (no TensorFlow is loaded before them)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import run_cli
from test_reports import write_experiment, write_trial

from mnist_hpo.reports import ExperimentError, load_experiment
from mnist_hpo.reports.ensemble_pruning import eligibility_threshold
from mnist_hpo.reports.export_ensemble import warm_start_trials
from mnist_hpo.search.training.data import Split, load_mnist, scale_images, split_mnist


def best_checkpoint(trial: Path, epoch: int) -> Path:
    """The kept checkpoint whose own state file names ``epoch``."""
    for folder in trial.glob("checkpoint_*"):
        if json.loads((folder / "state.json").read_text())["epoch"] == epoch:
            return folder / "model.keras"
    raise AssertionError(f"no checkpoint of epoch {epoch} in {trial}")


def split_of(experiment: Path, mnist_path: Path) -> Split:
    """The search's own split, rebuilt from what its search.json records."""
    data = json.loads((experiment / "search.json").read_text())["data"]
    return split_mnist(load_mnist(mnist_path), validation=data["validation"],
                       subset=data["subset"], seed=data["split_seed"])


def by_hand(experiment: Path, members: list[dict[str, Any]], x: np.ndarray) -> np.ndarray:
    """The members' own checkpoints, weighted and added."""
    import keras

    return sum(r["weight"] * keras.models.load_model(
        best_checkpoint(experiment / f"trial_{r['trial']:04d}", r["epoch"]),
        compile=False).predict(x, verbose=0) for r in members)


@pytest.mark.slow
def test_auto_keeps_only_trials_near_the_best(search_run: tuple[Path, str], tmp_path: Path,
                                              mnist_path: Path) -> None:
    experiment, _ = search_run
    copy = tmp_path / "copy"
    shutil.copytree(experiment, copy)
    # A copy of the best trial whose checkpoint is unreadable: eligible, skipped with a
    # warning, the others still used.
    records = load_experiment(copy)
    best = records.best()
    twin = max(t.number for t in records.trials) + 1
    shutil.copytree(best.path, copy / f"trial_{twin:04d}")
    for model in (copy / f"trial_{twin:04d}").glob("checkpoint_*/model.keras"):
        model.write_bytes(b"not a keras file")
    chance = {t.number for t in records.finished if (t.best_val_accuracy or 0) < 0.5}
    assert len(chance) >= 2  # the fixture's trials stopped at epoch 1, at chance

    out = copy / "export-ensemble"  # the default folder, where the report looks
    proc = run_cli("export", str(copy), "--ensemble", "auto")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert f"mnist-hpo export: warning: skipped trial {twin}: " in proc.stderr
    m = json.loads((out / "metrics.json").read_text())
    sel, members = m["selection"], m["members"]
    assert sel["not_eligible"] >= len(chance) and sel["candidates"] == sel["eligible"] - 1
    assert not {r["trial"] for r in members} & chance
    assert all(r["val_accuracy"] >= sel["eligible_from"] for r in members)
    assert sel["validation_images"] == 1000 and sel["noise_z"] == 2.0

    # The curve: one row per K, row 1 the best alone; the exported row is the most
    # accurate pruned one.
    rows = m["curve"]
    assert [r["max_members"] for r in rows] == list(range(1, len(rows) + 1))
    (chosen,) = [r for r in rows if r["exported"]]
    assert chosen["max_members"] == sel["row"]
    assert chosen["pruned"]["val_accuracy"] == max(r["pruned"]["val_accuracy"] for r in rows)
    assert rows[0]["pruned"]["trials"] == [m["best_single"]["trial"]]
    assert chosen["pruned"]["trials"] == [r["trial"] for r in members]
    assert "Validation accuracy by K (* exported)" in proc.stdout
    exported_row = rf"^\* +{sel['row']} +\d+ +0\.\d{{4}} +{len(members)} "
    assert re.search(exported_row, proc.stdout, re.MULTILINE), proc.stdout
    assert m["ensemble"]["val_accuracy"] >= m["best_single"]["val_accuracy"]
    assert sum(r["weight"] for r in members) == pytest.approx(1.0)

    # Independently: the members' own checkpoints, averaged by hand, against the exported
    # file reloaded with plain Keras in safe mode, on the search's validation split.
    split = split_of(experiment, mnist_path)
    x_val = scale_images(split.x_val)
    import keras

    exported = keras.models.load_model(out / "model.keras", safe_mode=True)
    probs = exported.predict(x_val, verbose=0)
    assert np.max(np.abs(probs - by_hand(experiment, members, x_val))) <= 1e-5
    assert np.mean(probs.argmax(1) == split.y_val) == pytest.approx(
        m["ensemble"]["val_accuracy"])
    test = exported.predict(scale_images(split.x_test), verbose=0)
    assert np.mean(test.argmax(1) == split.y_test) == pytest.approx(
        m["ensemble"]["test_accuracy"], abs=1e-4)

    # What the gain costs, for both.
    for side in ("ensemble", "best_single"):
        cost = m[side]["cost"]
        assert cost["params"] > 0 and cost["file_bytes"] > 10_000
        assert cost["latency_ms_batch_1"] > 0 and cost["latency_ms_batch_256"] > 0
    assert "ms/image b1" in proc.stdout and "best single (trial" in proc.stdout

    # The report shows it, and its leaderboard scrolls in its own box.
    report = run_cli("report", str(copy), "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr[-2000:]
    page = (tmp_path / "report" / "report.html").read_text()
    assert "<h2>Exported ensemble</h2>" in page and "ms/image, batch 1" in page
    assert (tmp_path / "report" / "confusion_ensemble.png").exists()
    assert '<div class="scroll"><table><tr><th>rank</th>' in page
    assert ".scroll { max-width: 100%; overflow-x: auto;" in page


@pytest.mark.slow
def test_listed_trials_and_warm_starts(budget_run: tuple[Path, str], tmp_path: Path,
                                       mnist_path: Path) -> None:
    """Exactly the listed trials, equal weights, whatever the rule would keep (trial 2 is
    below the best by more than the noise of 1,000 images)."""
    experiment, _ = budget_run
    copy = tmp_path / "copy"
    shutil.copytree(experiment, copy)
    proc = run_cli("export", str(copy), "--trial", "1,2")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = copy / "export-trials-1-2"
    m = json.loads((out / "metrics.json").read_text())
    assert [(r["trial"], r["weight"]) for r in m["members"]] == [(1, 0.5), (2, 0.5)]
    assert m["curve"] is None and m["selection"]["trials"] == [1, 2]
    assert m["best_single"]["trial"] == 1  # the better of the two on validation
    assert f"Exported an ensemble of trials 1, 2 to {out}/" in proc.stdout
    assert "Chosen: the listed trials (--trial), equal weights;" in proc.stdout
    split = split_of(experiment, mnist_path)
    x_val = scale_images(split.x_val)
    import keras

    listed = keras.models.load_model(out / "model.keras", safe_mode=True)
    probs = listed.predict(x_val, verbose=0)
    assert np.max(np.abs(probs - by_hand(experiment, m["members"], x_val))) <= 1e-5
    assert np.mean(probs.argmax(1) == split.y_val) == pytest.approx(
        m["ensemble"]["val_accuracy"])
    assert m["reload_max_difference"] <= 1e-5

    # The warm starts, as search.json would list them: the first trial of each
    # configuration (trial 3 repeats trial 2's learning rate).
    manifest = json.loads((copy / "search.json").read_text())
    manifest["warm_start"] = [{"learning_rate": 0.01}, {"learning_rate": 0.03}]
    (copy / "search.json").write_text(json.dumps(manifest))
    assert warm_start_trials(load_experiment(copy)) == [1, 2]
    warm = run_cli("export", str(copy), "--warm-starts")
    assert warm.returncode == 0, warm.stdout[-2000:] + warm.stderr[-2000:]
    w = json.loads((copy / "export-warm-starts" / "metrics.json").read_text())
    assert [r["trial"] for r in w["members"]] == [1, 2]
    assert w["ensemble"]["test_accuracy"] == m["ensemble"]["test_accuracy"]

    # A listed trial whose checkpoint does not load fails the export: nothing written.
    for model in (copy / "trial_0002").glob("checkpoint_*/model.keras"):
        model.write_bytes(b"not a keras file")
    broken = run_cli("export", str(copy), "--trial", "2,1", "--out", str(tmp_path / "x"))
    assert broken.returncode == 1 and "Traceback" not in broken.stderr
    assert "mnist-hpo export: FAILED: --trial: trial 2: " in broken.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_auto_exports_the_best_alone_when_no_other_is_within_noise(
        budget_run: tuple[Path, str], tmp_path: Path) -> None:
    experiment, _ = budget_run
    records = load_experiment(experiment)
    best = records.best()
    floor = eligibility_threshold(best.best_val_accuracy or 0, 1000)
    others = [t.number for t in records.finished
              if t.number != best.number and (t.best_val_accuracy or 0) >= floor]
    out = tmp_path / "ensemble"
    proc = run_cli("export", str(experiment), "--ensemble", "auto", "--out", str(out))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    m = json.loads((out / "metrics.json").read_text())
    # Whichever trials this run's seed made: those below the floor never enter.
    assert m["selection"]["not_eligible"] == len(records.finished) - 1 - len(others)
    assert {r["trial"] for r in m["members"]} <= {best.number, *others}
    if not others:  # the case the name states: the best alone
        assert [r["trial"] for r in m["members"]] == [best.number]
        assert f"No ensemble of these trials beats trial {best.number} alone" in proc.stdout


@pytest.mark.slow
def test_too_few_usable_trials_is_one_clear_error(budget_run: tuple[Path, str],
                                                  tmp_path: Path) -> None:
    experiment, _ = budget_run
    copy = tmp_path / "copy"
    shutil.copytree(experiment, copy)
    for trial in ("trial_0001", "trial_0003"):
        for checkpoint in (copy / trial).glob("checkpoint_*"):
            shutil.rmtree(checkpoint)
    out = tmp_path / "ensemble"
    proc = run_cli("export", str(copy), "--ensemble", "3", "--out", str(out))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert re.match(rf"mnist-hpo export: error: --ensemble: [01] usable trial\(s\) in "
                    rf"{re.escape(str(copy))} \(skipped: trial 1: no checkpoint of its best "
                    rf"epoch", line), line
    assert "an ensemble needs at least 2" in line and "Traceback" not in proc.stderr
    assert not out.exists()  # nothing written


def test_warm_start_trials_are_the_first_with_their_configuration(tmp_path: Path) -> None:
    root = write_experiment(tmp_path / "e")
    write_trial(root, 5, {"learning_rate": 0.001, "dense_units": 64}, [0.99])  # a redraw
    manifest = json.loads((root / "search.json").read_text())
    manifest["warm_start"] = [{"learning_rate": 0.01, "dense_units": 128},
                              {"learning_rate": 0.001, "dense_units": 64},
                              {"learning_rate": 0.5, "dense_units": 16}]  # never reached
    (root / "search.json").write_text(json.dumps(manifest))
    assert warm_start_trials(load_experiment(root)) == [3, 1]
    manifest["warm_start"] = []
    (root / "search.json").write_text(json.dumps(manifest))
    with pytest.raises(ExperimentError, match=r"--warm-starts: .* has no warm start "
                                              r"\(search.json's warm_start is empty"):
        warm_start_trials(load_experiment(root))


WARM = [{"learning_rate": 0.001, "dense_units": 64}]


@pytest.mark.parametrize(("args", "warm", "message"), [
    (["--trial", "1,9"], None, r"--trial 9: no such trial in .* \(trials: 1, 2, 3, 4\)"),
    (["--trial", "1,x"], None,
     r"argument --trial: '1,x': 'x' is not an integer; give trial numbers, like 3 or 1,4,7"),
    (["--trial", "1,0"], None, r"argument --trial: '1,0': 0 must be at least 1"),
    (["--trial", "3,1,3"], None, r"argument --trial: '3,1,3': trial 3 is listed twice"),
    (["--trial", "3,1"], None,
     r"--trial 3: no checkpoint of its best epoch 2 in .*trial_0003 \(checkpointed epochs: "
     r"none\)"),
    (["--warm-starts"], None, r"--warm-starts: .* has no warm start"),
    (["--warm-starts"], WARM, r"--warm-starts: trial 1: no checkpoint of its best epoch 3"),
    (["--warm-starts", "--trial", "1"], None,
     r"argument --trial: not allowed with argument --warm-starts"),
    (["--warm-starts", "--ensemble", "2"], None,
     r"argument --ensemble: not allowed with argument --warm-starts"),
    (["--trial", "1,3", "--max-params", "1000"], None,
     r"--max-params/--max-latency-ms choose the trial: not with --trial or --ensemble"),
    (["--ensemble", "1"], None, r"argument --ensemble: 1: an ensemble has at least 2 members"),
    (["--ensemble", "many"], None,
     r"argument --ensemble: 'many': give the most members, 2 or more, or auto"),
    (["--ensemble", "2", "--trial", "1"], None,
     r"argument --trial: not allowed with argument --ensemble"),
])
def test_bad_input_is_one_line(tmp_path: Path, args: list[str],
                               warm: list[dict[str, object]] | None, message: str) -> None:
    root = write_experiment(tmp_path / "e")
    if warm is not None:
        manifest = json.loads((root / "search.json").read_text())
        (root / "search.json").write_text(json.dumps(manifest | {"warm_start": warm}))
    before = sorted(p.name for p in root.iterdir())
    proc = run_cli("export", str(root), *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
    assert len(errors) == 1 and re.search(message, errors[0]), proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in root.iterdir()) == before  # nothing written
