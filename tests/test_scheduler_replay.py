"""benchmarks/scheduler_replay.py: the schedules it replays spend the budget as their
papers (and Ray) say, on hand-built curves whose outcome can be worked out."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from benchmarks.scheduler_replay import SCHEDULES, asha, asha_promote, fifo, one_epoch

ROOT = Path(__file__).resolve().parents[1]

BAD, GOOD = [0.5] * 9, [0.9] * 9


class Draws(random.Random):
    """Hands out the configurations in a fixed order: first ``first``, then ``rest``."""

    def __init__(self, first: Sequence[float], rest: Sequence[float]) -> None:
        super().__init__(0)
        self._first: list[Sequence[float]] | None = [first]
        self._rest = rest

    def choice(self, seq: Any) -> Any:
        if self._first:
            return self._first.pop()
        return self._rest


def test_ray_asha_lets_the_first_trial_run_every_epoch() -> None:
    # Ray's stopping-type ASHA has nothing to compare the first trial with at any rung,
    # so a poor first configuration costs all 9 epochs: 5 trials fit in 45, not more.
    result = asha([BAD, GOOD], Draws(BAD, GOOD), budget=45, workers=1, eta=2)
    assert (result.trials, result.best_val) == (5, 0.9)


def test_promotion_asha_never_continues_a_trial_below_its_rung_top() -> None:
    # Promotion type: the poor first trial waits at rung 1 and is never in its top 1/η,
    # so each good trial climbs instead; with all good trials equal, the budget buys
    # more starts than the stopping type's 5.
    result = asha_promote([BAD, GOOD], Draws(BAD, GOOD), budget=45, workers=1, eta=3)
    assert result.best_val == 0.9
    assert result.trials > 5


def test_one_epoch_draws_29_configurations_and_continues_the_best() -> None:
    pool = [[0.1 * i + 0.01 * e for e in range(9)] for i in range(1, 9)]
    result = one_epoch(pool, random.Random(3), budget=45, workers=2)
    assert result.trials == 45 - 2 * 8
    drawn_best = result.winner_full
    assert result.best_val == pytest.approx(drawn_best)  # the best drawn ran all 9 epochs


def test_fifo_trains_whole_trials_only() -> None:
    result = fifo([BAD, GOOD], random.Random(0), budget=45, workers=2)
    assert result.trials == 5


def test_replay_of_the_recorded_curves_writes_every_schedule(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "benchmarks/scheduler_replay.py", "--quick",
                           "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    saved = json.loads((tmp_path / "scheduler_replay.json").read_text())
    assert saved["args"]["quick"] is True  # so a quick rerun may write over it, not a full one
    summary = saved["summary"]
    assert set(summary) == set(SCHEDULES)
    assert summary["fifo"]["trials"] == 5 and summary["one-epoch, 2 finalists"]["trials"] == 29
    pool_best = max(max(run["after"]) for run in json.loads(
        (ROOT / "docs/performance/early_ranks.json").read_text())["runs"])
    for name, row in summary.items():
        assert 0.9 < row["best_val"] <= pool_best, name


def test_a_quick_replay_never_writes_the_published_figures() -> None:
    published = ROOT / "docs/performance/scheduler_replay.json"
    before = published.read_bytes()
    proc = subprocess.run([sys.executable, "benchmarks/scheduler_replay.py", "--quick"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    written = Path(proc.stdout.strip().splitlines()[-1].removeprefix("written to "))
    quick = written.parent.parent == Path(tempfile.gettempdir()) and \
        written.parent.name.startswith("mnist-hpo-scheduler_replay-quick-")
    try:
        assert quick, written
        assert published.read_bytes() == before
    finally:
        if quick:  # never the published folder, whatever the script said
            shutil.rmtree(written.parent)


def test_a_quick_replay_refuses_a_folder_holding_the_full_one(tmp_path: Path) -> None:
    copy = tmp_path / "scheduler_replay.json"
    shutil.copyfile(ROOT / "docs/performance/scheduler_replay.json", copy)
    before = copy.read_bytes()
    proc = subprocess.run([sys.executable, "benchmarks/scheduler_replay.py", "--quick",
                           "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stderr == f"{copy} holds a full run's results, and a --quick run never " \
        "writes over them: pass another --out, or none for a temporary folder\n"
    assert copy.read_bytes() == before


def test_the_replay_holds_no_copy_of_the_rules() -> None:
    # The ASHA schedules are the product's policy (issue 30): no Ray scheduler, no rule here.
    source = (ROOT / "benchmarks/scheduler_replay.py").read_text()
    assert "from mnist_hpo.search.policy import" in source
    assert "ray" not in {line.split()[1].split(".")[0] for line in source.splitlines()
                         if line.startswith(("import ", "from "))}
