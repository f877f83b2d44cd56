"""The planned end of a time budget through the product's Ray scheduler
(search/tune/scheduler.py): its own clock, a resumed search's time left, the first rung's
predicted labels, the plan's records. Ray's own ``Trial`` objects and a stand-in for its
controller; no Ray runtime, no TensorFlow; time from a clock the test moves."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

from ray.tune.experiment import Trial
from test_promotion import (
    CONTINUE,
    PAUSE,
    Controller,
    choose,
    restored,
    settings,
    sync,
    trial,
)

from mnist_hpo.search.experiment.names import PLAN_FILE, SIGNATURE_KEY, TIME_BUDGET_FILE
from mnist_hpo.search.experiment.plan_file import plan_summary, read_plan
from mnist_hpo.search.policy import Policy, PolicySettings
from mnist_hpo.search.tune.clock import BudgetClock
from mnist_hpo.search.tune.factories import make_run_config, make_scheduler
from mnist_hpo.search.tune.scheduler import PolicyScheduler


class Clock:
    """Seconds the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def timed(clock: Clock, budget: float = 100.0) -> PolicyScheduler:
    rules = PolicySettings(max_t=5, time_budget_s=budget, workers=2)
    s = PolicyScheduler(Policy(rules), clock=BudgetClock(budget, clock),
                        metric="val_accuracy")
    assert s.set_search_properties("val_accuracy", "max")
    return s


def report(s: PolicyScheduler, controller: Controller, t: Any, epoch: int, accuracy: float,
           seconds: float, signature: str | None = None) -> str:
    reported: dict[str, Any] = {"training_iteration": epoch, "val_accuracy": accuracy,
                                "time_this_iter_s": seconds}
    if signature is not None:
        reported[SIGNATURE_KEY] = signature
    sync(s, controller)
    decision = s.on_trial_result(controller, t, reported)
    t.update_last_result(reported)
    t.status = {PAUSE: Trial.PAUSED, CONTINUE: t.status}.get(decision, Trial.TERMINATED)
    return decision


def in_folder(folder: Path, t: Any) -> Any:
    (folder / t.trial_id).mkdir()
    t.records = str(folder / t.trial_id)
    return t


def test_breadth_while_time_is_left_then_the_finalists_and_the_records(
        tmp_path: Path) -> None:
    clock = Clock()
    s = timed(clock)
    a, b, c = (in_folder(tmp_path, trial(f"trial_000{n}")) for n in (1, 2, 3))
    controller = Controller([a, b])
    # 5-s epochs, 2 workers: 4 epochs after the first rung are 20 s per finalist.
    assert report(s, controller, a, 1, 0.95, 5.0, "0123456700") == PAUSE
    controller.trials.append(c)
    assert report(s, controller, b, 1, 0.96, 5.0, "0123456789") == PAUSE
    plan = read_plan(tmp_path)
    assert plan is not None and plan["phase"] == "breadth" and plan["finalists"] == []
    assert plan["budget"] == {"time_budget_s": 100.0, "epoch_budget": None,
                              "finalists": 2, "workers": 2}
    # 76 s later 24 s are left: a new configuration's epoch (5 s) and then the two
    # finalists' 20 s each, on 2 workers, no longer fit (25 s). c, the best, goes on; b,
    # unlike it (a predicts as c does), resumes on the other worker.
    clock.now += 76
    assert report(s, controller, c, 1, 0.97, 5.0, "0123456700") == CONTINUE
    assert choose(s, controller) is b
    assert s.admits() is False
    plan = read_plan(tmp_path)
    assert plan is not None and plan["phase"] == "finalists"
    assert [f["trial"] for f in plan["finalists"]] == [3, 2]
    assert [f["picked"] for f in plan["finalists"]] == ["best", "unlike"]
    assert [f["can_finish"] for f in plan["finalists"]] == [True, True]  # 20 s of 24
    turned = plan["changes"][-1]
    assert turned["time_left_s"] == 24.0 < turned["estimate"]["needed_s"] == 25.0
    assert turned["estimate"]["finalists_epoch_s"] == 5.0
    assert plan_summary(plan)["finalists"] == [3, 2]
    assert plan_summary(plan)["turned_to_finalists"]["epochs_spent"] == 3


def test_the_scheduler_and_the_stopper_each_have_their_own_clock(tmp_path: Path) -> None:
    search = settings(time_budget_s=100.0)
    s: Any = make_scheduler(search)
    stop: Any = make_run_config(search, str(tmp_path), [], tmp_path).stop
    budget = next(x for x in stop._stoppers if hasattr(x, "budget"))
    assert s._clock is not budget.budget
    assert s.policy.settings.time_budget_s == 100.0 and s.policy.settings.finalists == 2


def test_a_resumed_search_plans_with_what_the_stopper_had_left(tmp_path: Path) -> None:
    # Ray restores the scheduler as pickled when the search began: its clock has the whole
    # budget. The stopper, restored with what was left, wrote it down.
    s = pickle.loads(pickle.dumps(make_scheduler(settings(time_budget_s=100.0))))
    s.set_search_properties("val_accuracy", "max")
    (tmp_path / TIME_BUDGET_FILE).write_text(json.dumps({"budget_s": 100.0, "left_s": 40.0,
                                                         "reached": False}))
    old = restored(tmp_path, "trial_0001", [0.95])
    sync(s, Controller([old]))
    left = s.snapshot(False).time_left_s
    assert left is not None and 39.0 < left <= 40.0


def test_the_first_rungs_labels_reach_the_views_and_a_restored_trial_reads_them(
        tmp_path: Path) -> None:
    clock = Clock()
    s = timed(clock)
    a = trial("a")
    controller = Controller([a])
    report(s, controller, a, 1, 0.95, 5.0, "0123")
    report(s, controller, a, 2, 0.96, 4.0)  # later results carry none: it is kept
    [view] = s.snapshot(False).trials
    assert view.signature == b"0123" and view.epoch_s == 4.0
    # Not pickled (Ray's tuner.pkl): a resumed search reads them from the records.
    copy = pickle.loads(pickle.dumps(s))
    back = restored(tmp_path, "a", [0.95, 0.96])
    (Path(back.records) / "result.json").write_text(
        json.dumps({"val_accuracy": 0.95, SIGNATURE_KEY: "0123"}) + "\n" +
        json.dumps({"val_accuracy": 0.96}) + "\n")
    sync(copy, Controller([back]))
    [view] = copy.snapshot(False).trials
    assert view.signature == b"0123"


def test_without_a_plan_nothing_is_recorded(tmp_path: Path) -> None:
    s = make_scheduler(settings(scheduler="asha", time_budget_s=100.0))
    s.set_search_properties("val_accuracy", "max")
    t = in_folder(tmp_path, trial("trial_0001"))
    report(s, Controller([t]), t, 1, 0.9, 1.0)
    assert not (tmp_path / PLAN_FILE).exists()


def test_a_start_is_measured_apart_from_the_epochs() -> None:
    """A first epoch's step holds the trial's start (TensorFlow, the model, its cost):
    counted in every epoch it made the plan choose its finalists far too early."""
    from mnist_hpo.search.tune.epoch_times import EpochTimes

    clock = Clock()
    times = EpochTimes(clock)
    times.handed("a")  # the scheduler gives it a worker
    clock.now += 9.0  # 6 s to start, then a 3-s epoch
    times.result("a", {"seconds": 3.0, "time_this_iter_s": 8.5, "iterations_since_restore": 1})
    clock.now += 3.5  # the next epoch: 3 s, and 0.5 s of checkpoint and bookkeeping
    times.result("a", {"seconds": 3.0, "iterations_since_restore": 2})
    assert times.start_s == 6.0 and times.between_s == 0.5
    assert times.epoch_s({"seconds": 3.0, "time_this_iter_s": 8.5}) == 3.5
    # A trainable that reports no seconds: Ray's time of the step.
    assert times.epoch_s({"time_this_iter_s": 2.0}) == 2.5
    # Resumed (Ray counts its iterations from 1 again): a start, not an epoch between.
    times.handed("a")
    clock.now += 10.0
    times.result("a", {"seconds": 3.0, "iterations_since_restore": 1})
    assert times.start_s == 6.5 and times.between_s == 0.5  # medians of (6, 7), (0.5)
