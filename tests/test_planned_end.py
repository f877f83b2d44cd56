"""Promotion-type ASHA with an epoch budget (the policy's planned end, search/policy/plan.py):
breadth at the first rung, then the budget's end goes to the best trials. Decision by
decision, through the product's Ray scheduler (search/tune/scheduler.py) and a stand-in for
Ray's controller; no Ray runtime, no TensorFlow."""

from __future__ import annotations

import pickle
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ray.tune.experiment import Trial
from test_promotion import (
    CONTINUE,
    PAUSE,
    STOP,
    Controller,
    admits,
    choose,
    restored,
    result,
    scheduler,
    settings,
    sync,
    trial,
)

from mnist_hpo.search.tune.factories import make_scheduler, make_tune_config
from mnist_hpo.search.tune.scheduler import PolicyScheduler


def report(s: Any, controller: Controller, t: Any, epoch: int, accuracy: float) -> str:
    return result(s, t, epoch, accuracy, controller)


def run(s: Any, controller: Controller) -> Any:
    chosen = choose(s, controller)
    if chosen is not None:
        chosen.status = Trial.RUNNING
    return chosen


def test_breadth_first_then_the_two_best_are_trained_to_the_end() -> None:
    # 9 epochs, first rung 1, 2 finalists: the last 2 × 8 = 16 of 22 trial-epochs are theirs,
    # so a new configuration starts while epochs trained + trials training < 22 - 16 = 6:
    # six configurations, as the one-epoch baseline would train.
    s = scheduler(epoch_budget=22)
    pending = trial("p0", Trial.PENDING)
    controller = Controller([pending])
    draws = []
    for i, accuracy in enumerate((0.95, 0.97, 0.90, 0.96, 0.93, 0.94)):
        t = run(s, controller)
        assert t is pending, "a new configuration, not a paused one, while there is breadth"
        # The best result at the rung so far waits too: it would pass in plain ASHA.
        assert report(s, controller, t, 1, accuracy) == PAUSE
        draws.append(t)
        pending = trial(f"p{i + 1}", Trial.PENDING)
        controller.trials.append(pending)  # Ray keeps one new configuration pending
    # 6 epochs trained: the end is the finalists'.
    first = run(s, controller)
    assert first is draws[1]  # 0.97: the best at the rung
    second = run(s, controller)
    assert second is draws[3]  # 0.96
    assert report(s, controller, first, 2, 0.975) == CONTINUE  # between rungs
    assert report(s, controller, first, 3, 0.98) == CONTINUE  # a finalist
    assert report(s, controller, second, 3, 0.97) == CONTINUE
    assert admits(s, controller) is False  # the searcher holds new ones back
    assert report(s, controller, first, 9, 0.99) == STOP
    # The worker it frees does not go to the third best: what is left of the budget is the
    # second finalist's. (Ray would start a pending configuration on it; the searcher,
    # asked first, makes none while a finalist is unfinished.)
    pending.status = Trial.TERMINATED  # the searcher made none: Ray has none pending
    assert run(s, controller) is None
    assert admits(s, controller) is False
    assert report(s, controller, second, 9, 0.98) == STOP
    assert admits(s, controller) is True  # both finished: a budget left is breadth's


def test_a_trial_reaching_a_rung_below_the_finalists_waits_for_them() -> None:
    s = scheduler(epoch_budget=17)  # the end is planned from the first result on
    a, b, c = trial("a"), trial("b"), trial("c")
    controller = Controller([a])  # one worker: each trial starts as the last one decides
    assert report(s, controller, a, 1, 0.98) == CONTINUE  # alone: the best candidate
    controller.trials.append(b)
    assert report(s, controller, b, 1, 0.97) == CONTINUE  # second of two finalists
    controller.trials.append(c)
    assert report(s, controller, c, 1, 0.96) == PAUSE  # third
    # The finalists are ranked by their first epoch, which every candidate has: "a" goes on
    # at epoch 3 whatever it scores there.
    assert report(s, controller, a, 3, 0.90) == CONTINUE
    # A better first epoch arriving late takes a finalist's place at that one's next rung.
    d = trial("d")
    controller.trials.append(d)
    assert report(s, controller, d, 1, 0.99) == CONTINUE
    assert report(s, controller, b, 3, 0.98) == PAUSE
    assert run(s, controller) is None  # "c", third of four, does not take b's worker


def test_a_finalist_waits_while_a_better_one_waits_for_a_worker() -> None:
    s = scheduler(epoch_budget=19)  # breadth while epochs trained + training on < 3
    a, b = trial("a"), trial("b")
    controller = Controller([a, b])
    assert report(s, controller, a, 1, 0.97) == PAUSE  # 1 trained, b on: breadth
    c = trial("c")
    controller.trials.append(c)  # a new configuration on the free worker
    # 2 trained and c on: the end. "b" is second of two, but "a", better, is waiting.
    assert report(s, controller, b, 1, 0.96) == PAUSE
    assert run(s, controller) is None  # "c" is still in its first epoch
    assert report(s, controller, c, 1, 0.10) == PAUSE  # third
    assert run(s, controller) is a
    assert run(s, controller) is b  # second, and nothing better waits


def test_kept_trials_run_on_and_leave_one_finalist_to_the_rest() -> None:
    s = scheduler(epoch_budget=18, kept=[{"batch_size": 32}])
    seed, a, b = trial("seed", batch_size=32), trial("a"), trial("b")
    controller = Controller([seed])
    assert report(s, controller, seed, 1, 0.50) == CONTINUE  # worst, but kept
    controller.trials.append(a)
    assert report(s, controller, a, 1, 0.97) == CONTINUE  # the seed takes a worker anyway
    controller.trials.append(b)
    assert report(s, controller, b, 1, 0.96) == PAUSE


def test_the_finalists_wait_for_a_configuration_still_in_its_first_epoch() -> None:
    s = scheduler(epoch_budget=18)  # the end is planned from the first result on
    a, b = trial("a"), trial("b")
    controller = Controller([a, b])
    assert report(s, controller, a, 1, 0.96) == PAUSE  # "b" may rank above it
    assert run(s, controller) is None  # nor is "a" resumed before "b" reports
    assert report(s, controller, b, 1, 0.97) == CONTINUE
    assert run(s, controller) is a


def test_when_no_configuration_is_left_the_paused_ones_are_trained_on() -> None:
    # --trials reached long before the epoch budget: without this the paused trials would
    # wait for breadth that never comes.
    s = scheduler(epoch_budget=1000)
    a, b = trial("a"), trial("b")
    controller = Controller([a], searcher_finished=True)
    assert report(s, controller, a, 1, 0.90) == CONTINUE
    controller.trials.append(b)
    assert report(s, controller, b, 1, 0.95) == CONTINUE
    b.status = Trial.PAUSED  # as if it had waited
    a.status = Trial.TERMINATED
    assert run(s, controller) is b


def test_a_resumed_search_counts_the_epochs_already_trained(tmp_path: Path) -> None:
    s = scheduler(epoch_budget=21)  # the end: from 5 epochs trained + training on
    old = [restored(tmp_path, "x", [0.95, 0.96]), restored(tmp_path, "y", [0.97])]
    new = trial("new", Trial.PENDING)
    controller = Controller([*old, new])
    sync(s, controller)
    assert [t.status for t in old] == [Trial.PENDING, Trial.PAUSED]
    # 3 epochs trained and "x" restarting make 4: the free worker starts a new configuration
    # ("x", PENDING, is Ray's to start), not "y", which waits at its rung.
    old[0].status = Trial.RUNNING
    assert run(s, controller) is new
    # 4 trained, 2 training: the finalists' time. "new" (0.99) and "y" (0.97) are the two
    # best first epochs; "x" (0.95) is third and waits at its next rung for "y".
    assert report(s, controller, new, 1, 0.99) == CONTINUE
    assert report(s, controller, old[0], 3, 0.98) == PAUSE
    assert run(s, controller) is old[1]  # a freed worker: the best one waiting


def test_the_search_hands_its_epoch_budget_to_the_scheduler() -> None:
    planned: Any = make_scheduler(settings(epoch_budget=45))
    plain: Any = make_scheduler(settings())
    planned.set_search_properties("val_accuracy", "max")
    plain.set_search_properties("val_accuracy", "max")
    # The best of three at epoch 1 passes in plain ASHA; with a budget of 45 it waits.
    controller = Controller([])
    outcomes = []
    for s in (planned, plain):
        for name, accuracy in (("a", 0.90), ("b", 0.91), ("c", 0.99)):
            decision = report(s, controller, trial(name, batch_size=256), 1, accuracy)
        outcomes.append(decision)
    assert outcomes == [PAUSE, CONTINUE]


def test_the_searcher_asks_the_scheduler_before_each_new_configuration() -> None:
    config = make_tune_config(settings(epoch_budget=45), None)
    searcher: Any = config.search_alg
    assert searcher.admission is None  # nothing of Ray seen yet: breadth
    assert searcher.suggest("first") is not None
    # At its first call Ray's controller shows the scheduler the searcher it uses.
    controller = Controller([])
    controller.search_alg.searcher = SimpleNamespace(searcher=searcher)  # Ray's wrappers
    config.scheduler.choose_trial_to_run(controller)  # type: ignore[union-attr]
    assert searcher.admission == config.scheduler.admits  # type: ignore[union-attr]
    searcher.admission = lambda: False
    assert searcher.suggest("held back") is None  # Ray asks again later
    asked = [t for t in searcher.study.trials if t.state.name == "RUNNING"]
    assert len(asked) == 1  # and nothing was asked of Optuna


def noop(config: dict[str, Any]) -> None:
    """A trainable for a tuner that is only built and restored, never run."""


def test_a_resumed_search_keeps_the_searcher_asking_its_scheduler(tmp_path: Path) -> None:
    """Ray pickles the tune config into tuner.pkl and restores the searcher from its own
    checkpoint: the admission is never pickled, and the restored scheduler hands it to the
    restored searcher at its first call (Ray re-adds every trial before it asks the
    searcher), so the searcher asks the scheduler Ray uses, not a copy."""
    from ray import tune

    config = make_tune_config(settings(epoch_budget=45, max_concurrent=1), None)
    tune.Tuner(noop, tune_config=config,
               run_config=tune.RunConfig(name="exp", storage_path=str(tmp_path)))
    # What `mnist-hpo resume` restores: searcher and scheduler from the one tuner.pkl.
    restored_config = tune.Tuner.restore(str(tmp_path / "exp"), trainable=noop
                                         )._local_tuner._tune_config
    searcher: Any = restored_config.search_alg
    scheduler: Any = restored_config.scheduler
    assert searcher is not config.search_alg and scheduler is not config.scheduler
    assert searcher.admission is None  # nothing shared by reference through the pickle
    # The searcher also comes back from its own checkpoint, a separate pickle.
    searcher.save(str(tmp_path / "searcher.pkl"))
    searcher.restore(str(tmp_path / "searcher.pkl"))
    old = trial("old", Trial.PENDING)
    old.update_last_result({"training_iteration": 2, "val_accuracy": 0.9})  # past rung 1
    controller = Controller([old])
    controller.search_alg.searcher = SimpleNamespace(searcher=searcher)
    scheduler.on_trial_add(controller, old)  # Ray re-adds each trial
    assert searcher.admission == scheduler.admits  # the live one, not a copy
    assert scheduler.policy.settings.max_concurrent == 1
    assert scheduler.policy.settings.epoch_budget == 45
    assert old.status == Trial.PENDING  # past its rung: Ray starts it again
    assert searcher.suggest("new") is None  # and it takes the one slot


def test_the_whole_tune_config_pickles_and_decides_as_before() -> None:
    config = make_tune_config(settings(epoch_budget=22, max_concurrent=2), None)
    controller = Controller([trial("seen")])
    controller.search_alg.searcher = config.search_alg
    sync(config.scheduler, controller)  # type: ignore[arg-type]
    assert config.search_alg.admission is not None  # type: ignore[union-attr]
    copy = pickle.loads(pickle.dumps(config))  # the whole TuneConfig, as tuner.pkl holds it
    searcher, scheduler = copy.search_alg, copy.scheduler
    assert searcher.admission is None and isinstance(scheduler, PolicyScheduler)
    assert scheduler.snapshot(False).trials == ()  # Ray's trials are not pickled
    for s in (make_tune_config(settings(epoch_budget=22, max_concurrent=2), None).scheduler,
              scheduler):
        controller = Controller([trial(n) for n in ("a", "b", "c")])
        decisions = [report(s, controller, t, 1, a)
                     for t, a in zip(controller.trials, (0.9, 0.95, 0.8), strict=True)]
        assert decisions == [PAUSE, PAUSE, PAUSE]  # breadth first, whichever copy
