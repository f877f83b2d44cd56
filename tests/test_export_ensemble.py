"""``mnist-hpo export --ensemble`` on a real search (the budget_run fixture: trials 1 and 2
ran 4 epochs, trial 3 was stopped after 1), on a copy of its folder, without Ray."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import run_cli

from mnist_hpo.search.training.data import load_mnist, scale_images, split_mnist

pytestmark = pytest.mark.slow


def best_checkpoint(trial: Path, epoch: int) -> Path:
    """The kept checkpoint whose own state file names ``epoch``."""
    for folder in trial.glob("checkpoint_*"):
        if json.loads((folder / "state.json").read_text())["epoch"] == epoch:
            return folder / "model.keras"
    raise AssertionError(f"no checkpoint of epoch {epoch} in {trial}")


def test_an_ensemble_verified_against_its_members(budget_run: tuple[Path, str],
                                                  tmp_path: Path, mnist_path: Path) -> None:
    experiment, _ = budget_run
    copy = tmp_path / "copy"
    shutil.copytree(experiment, copy)
    # Trial 3's checkpoint is unreadable: skipped with a warning, the others still used.
    for model in (copy / "trial_0003").glob("checkpoint_*/model.keras"):
        model.write_bytes(b"not a keras file")
    out = copy / "export-ensemble"  # the default folder, where the report looks
    proc = run_cli("export", str(copy), "--ensemble", "auto")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "mnist-hpo export: warning: skipped trial 3: " in proc.stderr
    m = json.loads((out / "metrics.json").read_text())
    members = m["members"]
    assert {r["trial"] for r in members} <= {1, 2} and m["skipped"][0].startswith("trial 3")

    # Chosen on validation: never worse there than its best member.
    assert m["ensemble"]["val_accuracy"] >= max(r["val_accuracy"] for r in members)
    assert m["ensemble"]["val_accuracy"] >= m["best_single"]["val_accuracy"]
    assert sum(r["weight"] for r in members) == pytest.approx(1.0)

    # Independently: the members' own checkpoints, averaged by hand, against the exported
    # file reloaded with plain Keras in safe mode, on the search's validation split.
    split = split_mnist(load_mnist(mnist_path), validation=1000, subset=2000, seed=0)
    x_val = scale_images(split.x_val)
    by_hand = sum(r["weight"] * keras.models.load_model(
        best_checkpoint(experiment / f"trial_{r['trial']:04d}", r["epoch"]),
        compile=False).predict(x_val, verbose=0) for r in members)
    exported = keras.models.load_model(out / "model.keras", safe_mode=True)
    probs = exported.predict(x_val, verbose=0)
    assert np.max(np.abs(probs - by_hand)) <= 1e-5
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
    if len(members) == 2:
        assert m["ensemble"]["cost"]["params"] > m["best_single"]["cost"]["params"]
    assert "ms/image b1" in proc.stdout and "best single (trial" in proc.stdout

    # The report shows it, and its leaderboard scrolls in its own box.
    report = run_cli("report", str(copy), "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr[-2000:]
    page = (tmp_path / "report" / "report.html").read_text()
    assert "<h2>Exported ensemble</h2>" in page and "ms/image, batch 1" in page
    assert (tmp_path / "report" / "confusion_ensemble.png").exists()
    assert '<div class="scroll"><table><tr><th>rank</th>' in page
    assert ".scroll { max-width: 100%; overflow-x: auto;" in page


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
    assert line.startswith(f"mnist-hpo export: error: --ensemble: 1 usable trial(s) in "
                           f"{copy} (skipped: trial 1: no checkpoint of its best epoch")
    assert "an ensemble needs at least 2" in line and "Traceback" not in proc.stderr
    assert not out.exists()  # nothing written


@pytest.mark.parametrize(("value", "message"), [
    ("1", "argument --ensemble: 1: an ensemble has at least 2 members"),
    ("many", "argument --ensemble: 'many': give the most members, 2 or more, or auto"),
])
def test_bad_ensemble_values_are_refused(budget_run: tuple[Path, str], value: str,
                                         message: str) -> None:
    experiment, _ = budget_run
    proc = run_cli("export", str(experiment), "--ensemble", value)
    assert proc.returncode == 2 and message in proc.stderr
    assert not (experiment / "export-ensemble").exists()


def test_ensemble_and_trial_exclude_each_other(budget_run: tuple[Path, str]) -> None:
    experiment, _ = budget_run
    proc = run_cli("export", str(experiment), "--ensemble", "2", "--trial", "1")
    assert proc.returncode == 2
    assert "argument --trial: not allowed with argument --ensemble" in proc.stderr
