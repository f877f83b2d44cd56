"""A real search on real MNIST that its time budget ends: the plan turns from breadth to the
finalists, every finalist is trained to its last epoch before the budget runs out (none is
cut), they export as one ensemble, and ``export --ensemble auto`` chooses among the trials
its records put within noise of the best.

The verdict reads the records (the ``plan`` file, the trials' states), never a clock. The
budget is the only clock, and it is measured in this machine's epochs, not in seconds: one
configuration of the space is trained first, alone, and the budget is :data:`BUDGET_EPOCHS`
of its epochs (at least :data:`MIN_BUDGET_S`). A budget of a fixed 150 s was generous when
an epoch took 3 s, and too short on the same machine the day its epochs took 6 s alone and
10 s two at a time: 4 configurations, one finalist cut at its first rung. ``--trials`` is
out of reach, so on any machine the budget, not the trials, ends the search.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import run_cli

from benchmarks.budget_search import summarize
from mnist_hpo.reports.export_ensemble import CANDIDATES
from mnist_hpo.search.experiment import TrialState, load_experiment
from mnist_hpo.search.experiment.plan_file import read_plan

pytestmark = pytest.mark.slow

SPACE = Path(__file__).parent / "data" / "ensemble_space.yaml"
EPOCHS, FINALISTS = 4, 4
SUBSET, VALIDATION = "3000", "10000"
#: The budget in epochs of one configuration trained alone. Two trials at once each train
#: ~1.6x slower here and a worker's start costs about an epoch and a half, so the breadth
#: (at least 2 x FINALISTS configurations: ~2.5 alone-epochs each, on 2 workers) and the
#: finalists' 3 more epochs each (with a restart) need ~25 of them: twice that.
BUDGET_EPOCHS = 50
MIN_BUDGET_S = 150
#: A configuration of the space, trained alone to measure the machine's epoch.
PROBE = {"conv_blocks": 2, "convs_per_block": 1, "filters_1": 16, "filters_2": 24,
         "kernel_size_1": 5, "kernel_size_2": 3, "batch_norm": True, "conv_dropout": 0.2,
         "dense_units": 64, "dense_dropout": 0.2, "optimizer": "adam",
         "learning_rate": 3e-3, "batch_size": 64, "rotation": 8.0, "zoom": 0.06,
         "width_shift": 0.06, "height_shift": 0.06}


def budget_s(mnist_path: Path, folder: Path) -> int:
    """:data:`BUDGET_EPOCHS` of this machine's epochs now: the second epoch of
    :data:`PROBE` (the first one builds the graph), trained alone on one thread."""
    proc = run_cli("train", "--config", json.dumps(PROBE), "--epochs", "2", "--subset", SUBSET,
                   "--validation", VALIDATION, "--threads", "1", "--data", str(mnist_path),
                   "--out", str(folder), timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    epoch_s = json.loads((folder / "history.json").read_text())[-1]["seconds"]
    return max(MIN_BUDGET_S, math.ceil(BUDGET_EPOCHS * epoch_s))


def test_the_finalists_are_trained_before_the_time_budget_ends(mnist_path: Path,
                                                               tmp_path: Path) -> None:
    # The space's networks are small: with the budget in their epochs, the breadth has
    # about twice the finalists' configurations or more, whatever the machine. They are of
    # one good family (so however few configurations a busy machine tries, the finalists
    # end within the export's eligibility margin of each other) and differ in what makes
    # networks err differently, and 10,000 validation images tell an
    # ensemble's gain from noise (the export keeps a member worth 2 standard errors, and
    # an ensemble only if it beats the best trial by as much: on 2,000, a gain of 10
    # images against 3 lost was not; on 5,000, 1 run of 4 kept the best trial alone, and
    # another kept 2 at z = 2.4).
    budget = budget_s(mnist_path, tmp_path / "probe")
    proc = run_cli("search", "--space", str(SPACE), "--trials", "500", "--epochs", str(EPOCHS),
                   "--time-budget", f"{budget}s", "--finalists", str(FINALISTS),
                   "--subset", SUBSET, "--validation", VALIDATION, "--cpus-per-trial", "1",
                   "--seed", "0",
                   "--data", str(mnist_path), "--storage", str(tmp_path), "--name", "timed",
                   timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    experiment = tmp_path / "timed"
    manifest = json.loads((experiment / "search.json").read_text())
    assert manifest["status"] == "time budget reached", proc.stdout[-3000:]
    assert manifest["budget"]["finalists"] == FINALISTS

    plan = read_plan(experiment)
    assert plan is not None, "no plan was recorded"
    phases = [change["phase"] for change in plan["changes"]]
    assert phases[0] == "breadth" and plan["phase"] == "finalists", phases
    turned = next(c for c in plan["changes"] if c["phase"] == "finalists")
    assert 0 < turned["time_left_s"] < budget and turned["estimate"]["finalists_epoch_s"] > 0
    finalists = [f["trial"] for f in plan["finalists"]]
    assert len(finalists) == FINALISTS and None not in finalists, plan["finalists"]
    assert manifest["plan"]["finalists"] == finalists

    records = load_experiment(experiment)
    for number in finalists:  # every finalist trained to its last epoch, none cut
        record = records.trial(number)
        assert record.state is TrialState.COMPLETED, (number, record.status_text)
        assert record.epochs_run == EPOCHS
    # Breadth first: more configurations than finalists (a busy machine leaves room for
    # twice as many, an idle one for eight times), none trained past the first rung but the
    # finalists (a configuration drawn once they were trained may have been cut by the
    # budget in its first epoch).
    others = [t for t in records.trials if t.number not in finalists]
    assert len(others) >= FINALISTS and all(t.epochs_run <= 1 for t in others), \
        [(t.number, t.epochs_run) for t in others]
    assert "phase=finalists" in proc.stdout  # the per-trial lines say so once it turned

    # The benchmark of full-data runs reads its figures from the same folder: it agrees.
    summary = summarize(experiment)
    assert summary["status"] == manifest["status"] and summary["plan"]["cut"] == []
    assert [f["trial"] for f in summary["plan"]["finalists"]] == finalists
    assert summary["trial_epochs"] == sum(t.epochs_run for t in records.trials)
    # Breadth first, the finalists' epochs after the turn.
    assert 0 < summary["plan"]["breadth_epochs"] < summary["trial_epochs"]
    # The warm starts run first; the exports went elsewhere (--out).
    assert summary["warm_starts"] == list(range(1, len(manifest["warm_start"]) + 1))
    assert summary["exports"] == {}

    # The finalists, every one trained to its last epoch, exported as one ensemble: each
    # checkpoint loaded and checked against its record, the whole verified in a fresh process.
    listed = tmp_path / "finalists"
    export = run_cli("export", str(experiment), "--trial", ",".join(map(str, finalists)),
                     "--out", str(listed), timeout=900)
    assert export.returncode == 0, export.stdout[-3000:] + export.stderr[-3000:]
    metrics = json.loads((listed / "metrics.json").read_text())
    assert sorted(m["trial"] for m in metrics["members"]) == sorted(finalists), metrics
    # --ensemble auto chooses among them and the rest. How many are close enough to the best
    # to be candidates is a fact about these networks, not about the plan: the finalists
    # ended 0.33 points apart in one run here and more than 0.44 in a CI run, where the
    # best alone was eligible. So its choice is checked against the records: the trials
    # at or above its recorded floor (a floor a few standard errors below the best record)
    # are its candidates, and its members are among them.
    out = tmp_path / "ensemble"
    export = run_cli("export", str(experiment), "--ensemble", "auto", "--out", str(out),
                     timeout=900)
    assert export.returncode == 0, export.stdout[-3000:] + export.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    selection = metrics["selection"]
    recorded = {t.number: t.best_val_accuracy for t in records.trials
                if t.best_val_accuracy is not None}
    best = max(recorded.values())
    se = math.sqrt(best * (1 - best) / int(VALIDATION))
    assert best - 5 * se < selection["eligible_from"] < best, (best, selection)
    above = {n for n, acc in recorded.items() if acc >= selection["eligible_from"]}
    assert selection["eligible"] == len(above) >= 1, (above, selection)
    assert selection["candidates"] == min(CANDIDATES, len(above)), (above, selection)
    members = {m["trial"] for m in metrics["members"]}
    assert members <= above and max(recorded, key=lambda n: recorded[n]) in above
    assert metrics["ensemble"]["members"] == selection["pruned_members"] == len(members) >= 1
