"""Settings → Ray Tune / Optuna objects, checked without TensorFlow or a Ray runtime."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import optuna
import pytest
from ray import tune

from mnist_hpo.search.cli.main import build_parser
from mnist_hpo.search.cli.search import settings_from_args
from mnist_hpo.search.errors import UsageError
from mnist_hpo.search.experiment.names import JOURNAL
from mnist_hpo.search.tune.callbacks import FailureBudget, TimeBudget
from mnist_hpo.search.tune.checkpoints import CheckpointPruner
from mnist_hpo.search.tune.clock import time_budget_state
from mnist_hpo.search.tune.evidence import SeesUnfinished
from mnist_hpo.search.tune.factories import (
    make_run_config,
    make_sampler,
    make_scheduler,
    make_tune_config,
    trial_resources,
    warm_start_points,
)
from mnist_hpo.search.tune.prior import PriorSampler
from mnist_hpo.search.tune.scheduler import PolicyScheduler
from mnist_hpo.search.tune.searcher import OptunaSearcher
from mnist_hpo.search.tune.settings import SearchSettings, parse_duration
from mnist_hpo.spaces import load_space, resolve_config, space_from_dict


def settings(**overrides: object) -> SearchSettings:
    values: dict[str, object] = {"space": load_space("default"), "name": "exp"} | overrides
    return SearchSettings(**values)  # type: ignore[arg-type]


def draws(sampler: optuna.samplers.BaseSampler, n: int = 3) -> list[dict[str, object]]:
    study = optuna.create_study(direction="maximize", sampler=sampler)
    return [load_space("default").suggest(study.ask()) for _ in range(n)]


def test_flags_reach_settings() -> None:
    args = build_parser().parse_args([
        "search", "--space", "smoke", "--trials", "7", "--epochs", "3", "--scheduler", "fifo",
        "--sampler", "random", "--cpus-per-trial", "2", "--gpus-per-trial", "0.25",
        "--max-concurrent", "3", "--time-budget", "1h30m", "--seed", "5",
        "--address", "127.0.0.1:6379", "--storage", "/tmp/x", "--name", "n1", "--subset",
        "3000", "--grace-period", "2", "--reduction-factor", "3", "--no-reuse-workers"])
    s = settings_from_args(args)
    assert (s.space.name, s.trials, s.epochs, s.scheduler, s.sampler) == (
        "smoke", 7, 3, "fifo", "random")
    assert (s.cpus_per_trial, s.gpus_per_trial, s.max_concurrent, s.time_budget_s) == (
        2.0, 0.25, 3, 5400.0)
    assert (s.seed, s.address, s.storage, s.name, s.subset) == (
        5, "127.0.0.1:6379", "/tmp/x", "n1", 3000)
    assert (s.grace_period, s.reduction_factor, s.reuse_workers) == (2, 3.0, False)
    assert build_parser().parse_args(["search"]).space == "default"


@pytest.mark.parametrize(("flags", "scheduler"), [
    ([], "asha-promotion"),  # the default: trials wait at their rung
    (["--objective", "accuracy,params"], "asha"),  # fronts: Ray's ASHA, ranked by fronts
    (["--objective", "accuracy,params", "--scheduler", "fifo"], "fifo"),
])
def test_the_default_scheduler_follows_the_objective(flags: list[str], scheduler: str) -> None:
    s = settings_from_args(build_parser().parse_args(["search", *flags]))
    assert (s.scheduler, s.reduction_factor) == (scheduler, 3.0)
    built = make_tune_config(s, None).scheduler
    assert isinstance(built, PolicyScheduler)
    rules = built.policy.settings
    assert rules.rule.value == scheduler
    assert rules.cost_key == ("params" if scheduler == "asha" else None)  # fronts


def test_tune_config_asha_tpe(tmp_path: Path) -> None:
    s = settings(trials=12, epochs=6, max_concurrent=2, time_budget_s=600.0, seed=3,
                 grace_period=2, reduction_factor=3.0, scheduler="asha")
    tc = make_tune_config(s, tmp_path)
    assert (tc.metric, tc.mode, tc.num_samples) == ("val_accuracy", "max", 12)
    # The time budget is make_run_config's stopper (it says when it ran out), not Ray's own.
    assert (tc.max_concurrent_trials, tc.time_budget_s, tc.reuse_actors) == (2, None, True)
    assert isinstance(tc.scheduler, PolicyScheduler)
    # Rungs at the grace period (2) times powers of the reduction factor (3), below max_t.
    assert tc.scheduler.policy.settings.rungs == (2,)
    assert "rungs at epochs (2,)" in tc.scheduler.debug_string()
    assert isinstance(tc.search_alg, OptunaSearcher)
    sampler = tc.search_alg.study.sampler
    assert isinstance(sampler, SeesUnfinished)  # waiting trials count as evidence
    assert isinstance(sampler.base, PriorSampler)  # the warm start's prior, over TPE
    assert isinstance(sampler.base.base, optuna.samplers.TPESampler)
    # Seeded through the sampler: the same seed gives the same configurations.
    assert draws(sampler) == draws(make_sampler(s))
    assert draws(sampler) != draws(make_sampler(settings(seed=4)))
    # The study lives in a journal file inside the experiment, where optuna-dashboard finds it.
    assert (tmp_path / JOURNAL).exists()
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / JOURNAL)))
    assert [st.study_name for st in optuna.get_all_study_summaries(storage)] == ["exp"]


def test_fifo_and_random() -> None:
    s = settings(scheduler="fifo", sampler="random", seed=9)
    assert make_scheduler(s).policy.settings.rule.value == "fifo"
    prior = make_sampler(s).base  # type: ignore[attr-defined]
    assert isinstance(prior, PriorSampler)
    assert isinstance(prior.base, optuna.samplers.RandomSampler)
    cold = make_sampler(settings(sampler="random", warm_start=False))
    assert isinstance(cold.base, optuna.samplers.RandomSampler)  # type: ignore[attr-defined]


def test_seed_and_its_modern_twin_are_evaluated_first_only_when_inside_the_space() -> None:
    point, twin = warm_start_points(settings())
    seed = resolve_config({})
    assert point == {k: v for k, v in seed.items() if k in load_space("default").searched}
    assert "momentum" not in point and point["filters_2"] == 64
    assert twin == point | {"batch_norm": True, "lr_schedule": "cosine"}
    # A space without batch norm (the tutorial's own) starts from the seed network alone.
    no_bn = load_space("default").to_yaml_dict()
    no_bn["params"]["batch_norm"] = {"choices": [False]}
    assert warm_start_points(settings(space=space_from_dict(no_bn))) == [point]
    assert warm_start_points(settings(space=load_space("smoke"))) == []
    assert warm_start_points(settings(warm_start=False)) == []  # --no-warm-start


def test_run_config_checkpoints_every_epoch_and_prunes_them_itself() -> None:
    printer = tune.Callback()
    rc = make_run_config(settings(), "/tmp/store", [printer])
    assert (rc.name, rc.storage_path, rc.verbose) == ("exp", "/tmp/store", 0)
    cc = rc.checkpoint_config
    # num_to_keep=None: Ray's own pruning saves the experiment state at every checkpoint;
    # no score attribute: Ray would keep its list of them sorted by a walk at every one.
    assert (cc.num_to_keep, cc.checkpoint_frequency, cc.checkpoint_score_attribute) == (
        None, 1, None)
    assert any(isinstance(c, CheckpointPruner) for c in rc.callbacks or [])
    assert rc.callbacks is not None and rc.callbacks[0] is printer
    budget = rc.callbacks[1]
    assert isinstance(budget, FailureBudget) and budget.limit is None
    assert isinstance(rc.stop, tune.stopper.CombinedStopper)


def test_epoch_budget_stops_the_search_at_the_nth_epoch_of_any_trial() -> None:
    rc = make_run_config(settings(epoch_budget=4), "/tmp/store", [])
    stop = rc.stop
    assert stop is not None
    for trial, epoch in (("a", 1), ("b", 1), ("b", 1), ("a", 2)):
        assert not stop.stop_all()
        # stops no single trial; b's epoch 1 comes twice (Ray repeats a trial's last result
        # when it ends) and counts once
        assert stop(trial, {"val_accuracy": 0.5, "training_iteration": epoch}) is False
    assert not stop.stop_all()
    stop("b", {"training_iteration": 2})
    assert stop.stop_all()
    unlimited = make_run_config(settings(), "/tmp/store", []).stop
    assert unlimited is not None
    for epoch in range(100):
        unlimited("a", {"training_iteration": epoch + 1})
    assert not unlimited.stop_all()


@pytest.mark.load
def test_a_time_budget_goes_on_after_a_resume_and_says_what_is_left(tmp_path: Path) -> None:
    (tmp_path / "exp").mkdir()
    stop = make_run_config(settings(time_budget_s=0.3), str(tmp_path), [],
                           tmp_path / "exp").stop
    assert stop is not None
    assert not stop.stop_all()  # the clock starts at Ray's first check
    assert time_budget_state(tmp_path / "exp") == {"budget_s": 0.3, "left_s": 0.3,
                                                   "reached": False}
    untimed = make_run_config(settings(), str(tmp_path), [], tmp_path / "exp").stop
    assert untimed is not None and not untimed.stop_all()
    # The rest on a clock the test moves, so that the verdict is the same on any machine.
    now = [1000.0]
    budget = TimeBudget(30.0, str(tmp_path / "exp"), clock=lambda: now[0])
    now[0] += 50  # Ray's start-up, before its first check: not counted
    assert not budget.stop_all()
    now[0] += 20
    assert not budget.stop_all()
    # Ray keeps the stopper in its experiment state: a resumed search goes on with what is
    # left (10 s here), not with a new budget, and the time it was down does not count.
    resumed = pickle.loads(pickle.dumps(budget))
    resumed.clock = lambda: now[0]
    now[0] += 3600
    assert not resumed.stop_all()  # the first check after a restore restarts the clock
    assert time_budget_state(tmp_path / "exp") == {"budget_s": 30.0, "left_s": 10.0,
                                                   "reached": False}
    now[0] += 9
    assert not resumed.stop_all()
    now[0] += 1
    assert resumed.stop_all()
    assert time_budget_state(tmp_path / "exp") == {"budget_s": 30.0, "left_s": 0.0,
                                                   "reached": True}


def test_resources() -> None:
    assert trial_resources(settings(cpus_per_trial=2.0)) == {"cpu": 2.0}
    assert trial_resources(settings(gpus_per_trial=0.25)) == {"cpu": 1.0, "gpu": 0.25}
    assert settings(cpus_per_trial=0.5).threads_per_trial == 1


@pytest.mark.parametrize(("overrides", "message"), [
    ({"grace_period": 4, "epochs": 3}, r"--grace-period 4: must be between 1 and --epochs \(3\)"),
    ({"gpus_per_trial": 1.5}, r"--gpus-per-trial 1.5: must be a fraction"),
    ({"reduction_factor": 1.0}, r"--reduction-factor 1.0: must be more than 1"),
    ({"epoch_budget": 0}, r"--epoch-budget 0: must be at least 1"),
    ({"name": "../up"}, r"--name '../up': use letters, digits"),
])
def test_bad_settings(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        settings(**overrides)


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("30m", 1800),
                                               ("1.5h", 5400), ("1h30m", 5400), ("2d", 172800)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "30 minutes", "0m", "-5m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(UsageError, match=r"--time-budget"):
        parse_duration(text)


def test_searcher_proposes_the_seed_first(tmp_path: Path) -> None:
    searcher = make_tune_config(settings(), tmp_path).search_alg
    assert isinstance(searcher, OptunaSearcher)
    first, second = searcher.suggest("a"), searcher.suggest("b")
    assert first == resolve_config({})  # the tutorial's network, exactly
    assert second != first and load_space("default").contains(second)


def test_ray_may_keep_as_many_trials_waiting_as_the_policy_admits(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from mnist_hpo.search.tune.driver import pending_trials

    name = "TUNE_MAX_PENDING_TRIALS_PG"
    monkeypatch.delenv(name, raising=False)
    with pending_trials(settings(max_concurrent=3)):
        assert os.environ[name] == "4"  # one per free worker and one more, at most
    assert name not in os.environ
    monkeypatch.setenv(name, "7")  # the user's own choice stands
    with pending_trials(settings(max_concurrent=3)):
        assert os.environ[name] == "7"
