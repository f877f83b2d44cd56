"""Promotion-type ASHA, decision by decision, through the product's Ray scheduler
(search/tune/scheduler.py around the policy's rule ``PROMOTION``), with Ray's own ``Trial``
objects and a stand-in for Ray's controller. No Ray runtime, no TensorFlow."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from mnist_hpo.search.errors import UsageError
from mnist_hpo.search.policy import Policy, PolicySettings, Rule, rungs
from mnist_hpo.search.training.data import load_mnist, split_mnist
from mnist_hpo.search.tune.factories import make_scheduler, make_tune_config, warm_start_points
from mnist_hpo.search.tune.manifest import build_manifest, settings_from_manifest
from mnist_hpo.search.tune.scheduler import PolicyScheduler
from mnist_hpo.search.tune.settings import SearchSettings
from mnist_hpo.spaces import load_space

CONTINUE, PAUSE, STOP = TrialScheduler.CONTINUE, TrialScheduler.PAUSE, TrialScheduler.STOP


class Controller:
    """What the scheduler reads of Ray's TuneController, and the stop it may ask for.
    ``trials``: what Ray has added (:func:`sync` tells the scheduler of new ones, as Ray's
    ``on_trial_add`` does)."""

    def __init__(self, trials: list[Any], searcher_finished: bool = False) -> None:
        self.trials = trials
        self.search_alg = SimpleNamespace(is_finished=lambda: searcher_finished,
                                          searcher=None)
        self.stopped: list[str] = []

    def get_trials(self) -> list[Any]:
        return self.trials

    def stop_trial(self, trial: Any) -> None:
        self.stopped.append(trial.trial_id)
        trial.status = Trial.TERMINATED


class _Trial(Trial):
    """Ray's ``Trial``, its records folder given directly (Ray derives ``path`` from a
    storage context)."""

    records: str | None = None

    @property
    def path(self) -> str | None:
        return self.records


def trial(name: str, status: str = Trial.RUNNING, **config: Any) -> Any:
    made = _Trial("test", config=config, trial_id=name, stub=True)
    made.status = status
    return made


def sync(s: PolicyScheduler, controller: Controller) -> None:
    """Ray adds each trial to the scheduler once, when it is created."""
    known = {view.id for view in s.snapshot(False).trials}
    for t in controller.trials:
        if t.trial_id not in known:
            s.on_trial_add(controller, t)


def scheduler(eta: float = 3, kept: list[dict[str, Any]] | None = None,
              **options: Any) -> PolicyScheduler:
    rules = PolicySettings(rule=Rule.PROMOTION, max_t=9, grace_period=1,
                           reduction_factor=eta, **options)
    s = PolicyScheduler(Policy(rules), kept=kept or [])
    assert s.set_search_properties("val_accuracy", "max")
    return s


def result(s: PolicyScheduler, t: Any, epoch: int, accuracy: float,
           controller: Controller | None = None) -> str:
    """``t`` reports an epoch, as Ray hands it over: the decision, then its last result."""
    controller = controller or Controller([t])
    if t not in controller.trials:
        controller.trials.append(t)
    sync(s, controller)
    reported = {"training_iteration": epoch, "val_accuracy": accuracy}
    decision = s.on_trial_result(controller, t, reported)
    t.update_last_result(reported)
    if decision == PAUSE:
        t.status = Trial.PAUSED
    elif decision == STOP:
        t.status = Trial.TERMINATED
    return decision


def choose(s: PolicyScheduler, controller: Controller) -> Any:
    sync(s, controller)
    return s.choose_trial_to_run(controller)


def admits(s: PolicyScheduler, controller: Controller) -> bool:
    sync(s, controller)
    return s.admits()


def test_rungs_are_grace_times_powers_of_eta_below_max_t() -> None:
    assert rungs(9, 1, 3) == (1, 3)
    assert rungs(9, 1, 2) == (1, 2, 4, 8)
    assert rungs(9, 2, 2) == (2, 4, 8)


def test_the_first_trial_waits_where_rays_asha_would_let_it_pass() -> None:
    s = scheduler()
    a, b, c = trial("a"), trial("b"), trial("c")
    # Ray's stopping ASHA continues a trial alone at its rung; here nothing has been beaten.
    assert result(s, a, 1, 0.90) == PAUSE
    assert result(s, b, 1, 0.95) == PAUSE  # 2 results: the top ⌊2/3⌋ is empty
    assert result(s, c, 1, 0.97) == CONTINUE  # 3 results: c is the top 1
    assert result(s, c, 2, 0.975) == CONTINUE  # between rungs: no judgment


def test_a_paused_trial_resumes_once_it_enters_its_rungs_top() -> None:
    s = scheduler()
    trials = [trial(n) for n in "abcdef"]
    for t, accuracy in zip(trials, (0.96, 0.90, 0.91, 0.92, 0.93, 0.94), strict=True):
        result(s, t, 1, accuracy)
    # After 3 results "a" (0.96) is the top 1; after 6 the top 2 are "a" and "f".
    assert [t.status for t in trials] == [Trial.PAUSED] * 5 + [Trial.RUNNING]
    controller = Controller([*trials, trial("new", Trial.PENDING)])
    chosen = choose(s, controller)
    assert chosen is not None and chosen.trial_id == "a"  # a paused top, before a new one
    chosen.status = Trial.RUNNING
    nxt = choose(s, controller)
    assert nxt is not None and nxt.trial_id == "new"  # "f" went on at once; the rest lost


def test_the_highest_rung_is_served_first() -> None:
    s = scheduler(eta=2)
    x1, x2, y, z, u, v = (trial(n) for n in ("x1", "x2", "y", "z", "u", "v"))
    assert [result(s, t, 1, a) for t, a in ((x1, 0.90), (x2, 0.80), (y, 0.95), (z, 0.97))] \
        == [PAUSE, PAUSE, CONTINUE, CONTINUE]
    assert [result(s, y, 2, 0.99), result(s, z, 2, 0.98)] == [PAUSE, PAUSE]  # y alone, z below y
    assert [result(s, u, 1, 0.93), result(s, v, 1, 0.92)] == [PAUSE, PAUSE]
    # Now y is the top of epoch 2's rung, u has entered epoch 1's top 3 (z, y, u): both wait.
    controller = Controller([x1, x2, y, z, u, v, trial("new", Trial.PENDING)])
    for expected in ("y", "u", "new"):
        chosen = choose(s, controller)
        assert chosen is not None and chosen.trial_id == expected
        chosen.status = Trial.RUNNING


def test_at_the_end_the_losers_are_stopped_not_left_waiting() -> None:
    s = scheduler()
    trials = [trial(n) for n in "abc"]
    for t, accuracy in zip(trials, (0.90, 0.91, 0.99), strict=True):
        result(s, t, 1, accuracy)
    trials[2].status = Trial.TERMINATED  # the winner ran to the end
    busy = Controller(trials, searcher_finished=False)
    assert choose(s, busy) is None and busy.stopped == []  # more may come
    done = Controller(trials, searcher_finished=True)
    assert choose(s, done) is None
    assert done.stopped == ["a", "b"]


def test_with_every_trial_training_nothing_is_read_again_to_choose(
        monkeypatch: pytest.MonkeyPatch) -> None:
    s = scheduler()
    a, b, c = trial("a"), trial("b"), trial("c")
    assert [result(s, t, 1, accuracy) for t, accuracy in ((a, 0.96), (b, 0.90), (c, 0.97))] \
        == [PAUSE, PAUSE, CONTINUE]
    controller = Controller([a, b, c])
    built: list[str] = []
    build = PolicyScheduler._build_view
    monkeypatch.setattr(PolicyScheduler, "_build_view",
                        lambda self, t, *rest: built.append(t.trial_id) or build(self, t, *rest))
    assert s.choose_trial_to_run(controller) is None  # a and b wait: below c, the top 1
    assert built  # trials paused: the policy was asked, the changed trials read again
    for t in (a, b):
        t.status = Trial.TERMINATED
        s.on_trial_complete(controller, t, {})
    assert result(s, c, 2, 0.98, controller) == CONTINUE  # between the rungs (1, 3)
    built.clear()
    for _step in ("the result's", "its checkpoint's"):  # Ray asks at every step of its loop
        assert s.choose_trial_to_run(controller) is None
    assert built == []  # c alone trains: nothing was read again to say so
    pending = trial("new", Trial.PENDING)
    controller.trials.append(pending)
    assert choose(s, controller) is pending  # a new configuration is still handed out


def restored(folder: Path, name: str, curve: list[float], status: str = Trial.PENDING) -> Any:
    """A trial as Ray brings it back on resume: its records on disk, its last result, PENDING
    if unfinished."""
    path = folder / name
    path.mkdir()
    rows = [f"{e},{a},{name}" for e, a in enumerate(curve, start=1)]
    (path / "progress.csv").write_text("\n".join(["epoch,val_accuracy,trial_id", *rows]) + "\n")
    t = trial(name, status)
    t.records = str(path)
    t.update_last_result({"training_iteration": len(curve), "val_accuracy": curve[-1]})
    return t


def test_after_a_resume_the_rungs_come_back_from_the_records(tmp_path: Path) -> None:
    s = scheduler()  # as Ray unpickles it on resume: the empty copy from the search's start
    trials = [restored(tmp_path, "won", [0.97, 0.98, 0.985, 0.99], Trial.TERMINATED),
              restored(tmp_path, "ahead", [0.96, 0.97]),   # past epoch 1's rung: goes on
              restored(tmp_path, "lost", [0.90]),          # paused at epoch 1 when killed
              restored(tmp_path, "next", [0.95]),          # paused too, 3rd of 4 there
              trial("new", Trial.PENDING)]
    controller = Controller(trials, searcher_finished=True)
    sync(s, controller)  # Ray files each trial under the status it has after on_trial_add
    # Ray starts PENDING trials whatever the scheduler chooses: the two that had not passed
    # epoch 1's rung must not be PENDING.
    assert [t.status for t in trials] == [Trial.TERMINATED, Trial.PENDING, Trial.PAUSED,
                                          Trial.PAUSED, Trial.PENDING]
    # Rung 1 holds 0.97, 0.96, 0.95, 0.90: its top ⌊4/3⌋ = 1 is "won", already on.
    assert choose(s, controller) is trials[1]
    trials[1].status = Trial.RUNNING
    # "ahead" is judged at epoch 3 against what "won" recorded there before the resume.
    assert result(s, trials[1], 3, 0.90, controller) == PAUSE
    # Five poor new configurations make epoch 1's top 3 of 9: "won", "ahead" and "next".
    for i in range(5):
        assert result(s, trial(f"poor{i}"), 1, 0.5, controller) == PAUSE
    assert choose(s, controller) is trials[3]
    # Nothing running, nothing to come: the trials still waiting have lost and are stopped.
    trials[3].status = trials[4].status = Trial.TERMINATED
    assert choose(s, controller) is None
    assert sorted(controller.stopped) == ["ahead", "lost", *(f"poor{i}" for i in range(5))]


def test_kept_trials_never_pause_and_max_concurrent_caps_running_trials() -> None:
    s = scheduler(kept=[{"batch_size": 32}], max_concurrent=1)
    seed = trial("seed", batch_size=32)
    assert result(s, seed, 1, 0.5) == CONTINUE
    assert result(s, seed, 9, 0.99) == STOP  # the last epoch
    controller = Controller([trial("x")])
    # One runs already: no new configuration (the searcher asks), nothing resumed.
    assert admits(s, controller) is False
    assert choose(s, controller) is None


def test_max_concurrent_holds_the_searchers_new_configurations_back() -> None:
    # Ray starts a pending configuration on any free CPU, whatever choose_trial_to_run says
    # (seen: two trials at once with --max-concurrent 1 on 2 CPUs): the searcher asks first.
    s = scheduler(max_concurrent=1)
    a = trial("a")
    controller = Controller([a])
    assert choose(s, controller) is None  # the controller is seen
    assert admits(s, controller) is False  # one trains
    assert s.on_trial_result(controller, a, {"training_iteration": 1,
                                             "val_accuracy": 0.9}) == PAUSE
    assert admits(s, controller) is True  # pausing: its worker is free
    b = trial("b", Trial.PENDING)
    controller.trials.append(b)
    assert admits(s, controller) is False  # one about to start
    b.status = Trial.TERMINATED
    assert scheduler(max_concurrent=2).admits() is True


def test_under_max_concurrent_a_free_slot_goes_to_a_promotion_first() -> None:
    # Ray asks the searcher before the scheduler: a new configuration would take the slot a
    # trial that has entered its rung's top is to be resumed in.
    s = scheduler(max_concurrent=1)
    trials = [trial(name) for name in ("a", "b", "c")]
    controller = Controller(trials)
    for t, accuracy in zip(trials, (0.95, 0.90, 0.91), strict=True):
        t.status = Trial.RUNNING
        result(s, t, 1, accuracy, controller)
        t.status = Trial.PAUSED  # a, b, c wait: top ⌊3/3⌋ = a, entered when c reported
    assert admits(s, controller) is False  # the slot is a's
    assert choose(s, controller) is trials[0]
    trials[0].status = Trial.RUNNING
    assert admits(s, controller) is False  # a trains


def settings(**overrides: Any) -> SearchSettings:
    values: dict[str, Any] = {"space": load_space("default"), "name": "exp", "epochs": 9,
                              "scheduler": "asha-promotion"} | overrides
    return SearchSettings(**values)


def test_the_search_builds_it_with_both_warm_starts_kept_and_rays_limit_off() -> None:
    built = make_scheduler(settings(reduction_factor=3.0, max_concurrent=2))
    assert isinstance(built, PolicyScheduler) and built.policy.settings.rule is Rule.PROMOTION
    seed, twin = (trial(name, **point) for name, point in
                  zip(("seed", "twin"), warm_start_points(settings()), strict=True))
    built.set_search_properties("val_accuracy", "max")
    # Alone at their rungs, anything else would wait; the warm starts run on.
    assert [result(built, t, 1, 0.1) for t in (seed, twin)] == [CONTINUE, CONTINUE]
    assert result(built, twin, 3, 0.2) == CONTINUE
    assert result(built, trial("draw", batch_size=256), 1, 0.05) == PAUSE  # 3rd of 3
    # Without the warm start nothing is kept: the same configuration waits.
    cold = make_scheduler(settings(warm_start=False))
    cold.set_search_properties("val_accuracy", "max")
    assert result(cold, trial("seed-alike", **warm_start_points(settings())[0]), 1, 0.9) \
        == PAUSE
    assert make_tune_config(settings(max_concurrent=2), None).max_concurrent_trials is None


def test_a_pareto_search_is_refused_with_one_line() -> None:
    with pytest.raises(UsageError, match=r"--scheduler asha-promotion: ranks trials by "
                                         r"val_accuracy alone; --objective accuracy,params"):
        settings(objective="accuracy,params")


@pytest.mark.parametrize("scheduler", ["asha", "asha-promotion", "fifo"])
def test_search_json_names_the_scheduler_and_resume_reads_it_back(scheduler: str,
                                                                  mnist_path: Path) -> None:
    # A resumed search is rebuilt from search.json: asha-promotion must not come back as
    # FIFO (it once did) or as Ray's stopping ASHA.
    original = settings(scheduler=scheduler, reduction_factor=3.0, grace_period=2)
    data = load_mnist(mnist_path)
    split = split_mnist(data, validation=100, subset=200, seed=0)
    manifest = json.loads(json.dumps(build_manifest(original, data, split, "here", ["t"])))
    restored = settings_from_manifest(manifest, storage="experiments")
    assert restored.scheduler == scheduler
    if scheduler != "fifo":  # FIFO has no rungs to record
        assert (restored.reduction_factor, restored.grace_period) == (3.0, 2)
