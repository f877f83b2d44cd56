"""The search's status line: counts, the estimate of the time left, parseable log lines."""

from __future__ import annotations

import io
import json
import pickle
import re
import time
from pathlib import Path

import pytest

from mnist_hpo.search.experiment.names import PLAN_FILE
from mnist_hpo.search.policy import rungs
from mnist_hpo.search.tune.progress import Display, Progress, clock, expected_epochs
from mnist_hpo.search.tune.settings import SearchSettings
from mnist_hpo.spaces import load_space


def test_asha_rungs_and_expected_epochs() -> None:
    assert rungs(8, 1, 2.0) == (1, 2, 4)  # the policy's rungs, the estimate's too
    assert rungs(9, 1, 3.0) == (1, 3)
    assert expected_epochs(0, 8) == 8.0  # FIFO: every epoch
    # η = 2: epoch 1 surely, then 1 more with p 1/2, 2 more with p 1/4, 4 more with p 1/8.
    assert expected_epochs(0, 8, 1, 2.0) == pytest.approx(1 + 0.5 + 0.5 + 0.5)
    # Promoted past rung 2: on to rung 4 surely, then to 8 with p 1/2.
    assert expected_epochs(2, 8, 1, 2.0) == pytest.approx(4 + 2)
    assert expected_epochs(5, 8, 1, 2.0) == 8.0  # past the last rung: to the end


@pytest.mark.parametrize(("scheduler", "grace"), [("asha", 1), ("asha-promotion", 1),
                                                  ("fifo", None)])
def test_the_estimate_knows_which_schedulers_stop_trials(scheduler: str,
                                                          grace: int | None) -> None:
    settings = SearchSettings(space=load_space("default"), name="x", epochs=9,
                              scheduler=scheduler, reduction_factor=3.0)
    progress = Progress.of(settings)
    assert (progress.grace, progress.factor) == (grace, 3.0 if grace else None)


def fed(progress: Progress, start: float = 0.0) -> Progress:
    """Three trials started at ``start``, 4 epochs trained: 2 finished, 1 running."""
    progress.first_start = progress.started = start
    for trial, epochs in (("a", 1), ("b", 2), ("c", 1)):
        progress.start(trial)
        progress.result(trial, epochs, number=ord(trial) - 96, score=0.9 + epochs / 100)
    progress.end("a")
    progress.end("b")
    return progress


def test_time_left_from_the_measured_rate() -> None:
    # FIFO, 4 epochs per trial, 5 planned: 4 epochs in 40 s is 0.1 epoch/s; to come: 3 for
    # the running trial and 4 for each of 2 unstarted ones: 11 epochs, 110 s.
    p = fed(Progress(planned=5, max_epochs=4))
    f = p.figures(now=40.0)
    assert (f["trials_done"], f["trials_running"], f["epochs"]) == (2, 1, 4)
    assert (f["best"], f["best_trial"]) == (0.92, 2)
    assert (f["left_s"], f["left_by"]) == (110, "trials")
    # A time budget that ends sooner bounds it, and says so.
    p.time_budget_s = 100.0
    assert p.figures(now=40.0)["left_s"] == 60
    assert p.figures(now=40.0)["left_by"] == "time budget"
    # So does an epoch budget: 2 more epochs at 0.1 epoch/s.
    p.epoch_budget = 6
    assert (p.figures(now=40.0)["left_s"], p.figures(now=40.0)["left_by"]) == (
        20, "epoch budget")


def test_nothing_to_estimate_before_the_first_epoch() -> None:
    p = Progress(planned=3, max_epochs=2)
    assert p.figures()["left_s"] is None
    assert "estimating time left" in p.line()


@pytest.mark.load
def test_log_lines_carry_the_figures_as_pairs() -> None:
    stream = io.StringIO()  # not a terminal
    before = time.monotonic()
    p = fed(Progress(planned=5, max_epochs=4), start=before - 40)
    with Display(p, stream=stream) as display:
        display.write("Trial 2 finished: val_accuracy=0.9200 after 2 epochs.")
    taken = time.monotonic() - before  # however long this took, on however busy a machine
    line = stream.getvalue().strip()
    assert line.startswith("Trial 2 finished: val_accuracy=0.9200 after 2 epochs. | progress ")
    pairs = dict(re.findall(r"(\w+)=(\S+)", line.split(" | progress ")[1]))
    assert pairs["trials_done"] == "2" and pairs["trials_running"] == "1"
    assert pairs["trials_planned"] == "5" and pairs["epochs"] == "4"
    assert pairs["best"] == "0.92" and pairs["epoch_budget"] == "-"
    # 4 epochs in 40 s (and however long the line took), 11 to come: ~110 s.
    assert pairs["left_by"] == "trials"
    assert round(11 * 40 / 4) <= int(pairs["left_s"]) <= round(11 * (40 + taken) / 4) + 1


def test_display_survives_rays_pickling() -> None:
    display = Display(Progress(planned=2, max_epochs=1), stream=io.StringIO())
    display.progress.start("a")
    display.progress.result("a", 1, number=1, score=0.5)
    copy = pickle.loads(pickle.dumps(display))
    assert copy.progress.planned == 2 and copy.live is None
    # A resumed search counts from its own start: no stale clock or counts.
    figures = copy.progress.figures()
    assert figures["epochs"] == 0 and figures["elapsed_s"] == 0 and figures["best"] is None


def test_clock() -> None:
    assert (clock(5), clock(725), clock(3909)) == ("0:05", "12:05", "1:05:09")


def test_the_line_says_when_the_search_turned_to_its_finalists(tmp_path: Path) -> None:
    settings = SearchSettings(space=load_space("default"), name="x", epochs=9,
                              time_budget_s=600.0)
    p = Progress.of(settings, experiment=tmp_path)
    assert p.plans_end and p.figures(now=10.0)["phase"] is None  # nothing recorded yet
    (tmp_path / PLAN_FILE).write_text(json.dumps({"phase": "breadth", "finalists": []}))
    assert p.figures(now=11.0)["phase"] == "breadth"
    (tmp_path / PLAN_FILE).write_text(json.dumps(
        {"phase": "finalists", "finalists": [{"trial": 7}, {"trial": 12}]}))
    # Read at most once a second: a moment later the line has it.
    assert p.figures(now=11.5)["phase"] == "breadth"
    figures = p.figures(now=12.0)
    assert (figures["phase"], figures["finalists"]) == ("finalists", "7,12")
    assert p.line().endswith("· finalists 7,12")
    unplanned = Progress.of(SearchSettings(space=load_space("default"), name="x",
                                           time_budget_s=600.0, scheduler="asha"))
    assert "phase" not in unplanned.figures()
