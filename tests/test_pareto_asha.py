"""ASHA on (val_accuracy, cost) fronts for a Pareto search (MO-ASHA), through the product's
Ray scheduler (search/tune/scheduler.py, the policy's rule ``STOPPING`` with a cost key;
the fronts: search/policy/pareto.py), compared with Ray's own ASHA. No Ray runtime."""

from __future__ import annotations

import itertools
import math
import random
from types import SimpleNamespace
from typing import Any

import pytest
from ray.tune.schedulers import ASHAScheduler, TrialScheduler
from test_promotion import Controller, sync
from test_promotion import trial as ray_trial

from mnist_hpo.search.policy import Policy, PolicySettings, Rule, rungs
from mnist_hpo.search.policy.pareto import crowding, dominates, fronts, goes_on
from mnist_hpo.search.tune.factories import make_run_config, make_scheduler
from mnist_hpo.search.tune.scheduler import PolicyScheduler
from mnist_hpo.search.tune.settings import SearchSettings
from mnist_hpo.spaces import load_space


def trial(name: str) -> Any:
    return SimpleNamespace(trial_id=name)


class Pareto:
    """The product's scheduler for a Pareto search, fed results as Ray feeds it."""

    def __init__(self, **kw: Any) -> None:
        options = {"max_t": 8, "grace_period": 2, "reduction_factor": 3} | kw
        self.scheduler = PolicyScheduler(Policy(PolicySettings(
            rule=Rule.STOPPING, cost_key="params", kept_warm_starts=0, **options)))
        assert self.scheduler.set_search_properties("val_accuracy", "max")
        self.controller = Controller([])
        self.trials: dict[str, Any] = {}

    def on_trial_result(self, _: Any, t: Any, result: dict[str, Any]) -> str:
        made = self.trials.get(t.trial_id)
        if made is None:
            made = self.trials[t.trial_id] = ray_trial(t.trial_id)
            self.controller.trials.append(made)
            sync(self.scheduler, self.controller)
        decision: str = self.scheduler.on_trial_result(self.controller, made, result)
        made.update_last_result(result)
        return decision


def scheduler(**kw: Any) -> Pareto:
    return Pareto(**kw)


@pytest.mark.parametrize(("grace", "max_t", "eta"), [(2, 8, 3), (1, 2, 2), (1, 9, 3), (1, 16, 2)])
def test_rungs_are_rays(grace: int, max_t: int, eta: int) -> None:
    ray_asha = ASHAScheduler(time_attr="training_iteration", metric="m", mode="max",
                             max_t=max_t, grace_period=grace, reduction_factor=eta)
    # Ray's milestones, less one at max_t: a trial there has ended, it is not judged.
    ray_rungs = sorted(m for m, _ in ray_asha._brackets[0]._rungs if m < max_t)
    assert list(rungs(max_t, grace, eta)) == ray_rungs


@pytest.mark.parametrize("seed", range(5))
def test_fronts_are_non_dominated_sorting(seed: int) -> None:
    rng = random.Random(seed)
    points = {str(i): (rng.choice([0.9, 0.95, 0.97, 0.99]), rng.choice([1e4, 5e4, 1e5, 1e6]))
              for i in range(25)}
    sorted_fronts = fronts(points)
    assert sorted(itertools.chain(*sorted_fronts)) == sorted(points)
    for depth, front in enumerate(sorted_fronts):
        for k in front:
            # Nothing in its own or a later front dominates it; something one front up does.
            later = itertools.chain(*sorted_fronts[depth:])
            assert not any(dominates(points[j], points[k]) for j in later)
            if depth:
                assert any(dominates(points[j], points[k]) for j in sorted_fronts[depth - 1])


def test_crowding_keeps_the_ends_and_measures_gaps() -> None:
    points = {"a": (0.90, 1.0), "b": (0.95, 2.0), "c": (0.96, 8.0), "d": (0.99, 9.0)}
    distance = crowding(list(points), points)
    assert distance["a"] == distance["d"] == float("inf")
    # b: accuracy gap (0.96-0.90)/0.09, cost gap (8-1)/8; c: (0.99-0.95)/0.09, (9-2)/8.
    assert distance["b"] == pytest.approx(0.06 / 0.09 + 7 / 8)
    assert distance["c"] == pytest.approx(0.04 / 0.09 + 7 / 8)


def test_a_cheap_trial_behind_on_accuracy_goes_on_where_asha_stops_it() -> None:
    ray_asha = ASHAScheduler(time_attr="training_iteration", max_t=8, grace_period=2,
                             reduction_factor=3)
    ray_asha.set_search_properties("val_accuracy", "max")
    pareto = scheduler()
    arrivals = [("seed", 0.988, 887_530), ("wide", 0.990, 1_791_466),
                ("mid", 0.985, 375_610), ("tiny", 0.975, 23_626),
                ("worse", 0.980, 900_000)]  # dominated by "seed": more costly, less accurate
    decided = {}
    for name, accuracy, params in arrivals:
        result = {"training_iteration": 2, "val_accuracy": accuracy, "params": params}
        ray_asha.on_trial_add(None, trial(name))
        decided[name] = (ray_asha.on_trial_result(None, trial(name), result),
                         pareto.on_trial_result(None, trial(name), result))
    go, stop = TrialScheduler.CONTINUE, TrialScheduler.STOP
    assert decided == {"seed": (go, go), "wide": (go, go), "mid": (stop, go),
                       "tiny": (stop, go), "worse": (stop, stop)}


def test_with_one_cost_it_is_successive_halving_on_accuracy() -> None:
    """Equal costs make the fronts singletons ordered by accuracy: a trial goes on when
    fewer than ⌈n/η⌉ of the n trials at its rung are more accurate (Ray's ASHA differs only
    by interpolating its percentile between two trials)."""
    rng = random.Random(0)
    pareto = scheduler(max_t=9, grace_period=1)
    seen: dict[int, list[float]] = {1: [], 3: []}
    agree_with_ray = 0
    ray_asha = ASHAScheduler(time_attr="training_iteration", max_t=9, grace_period=1,
                             reduction_factor=3)
    ray_asha.set_search_properties("val_accuracy", "max")
    for i in range(60):
        t = trial(str(i))
        ray_asha.on_trial_add(None, t)
        for epoch in (1, 3):
            accuracy = rng.random()
            seen[epoch].append(accuracy)
            ahead = sum(a > accuracy for a in seen[epoch])
            expected = (TrialScheduler.CONTINUE if ahead < math.ceil(len(seen[epoch]) / 3)
                        else TrialScheduler.STOP)
            result = {"training_iteration": epoch, "val_accuracy": accuracy, "params": 7}
            assert pareto.on_trial_result(None, t, result) == expected, (i, epoch)
            agree_with_ray += ray_asha.on_trial_result(None, t, result) == expected
            if expected == TrialScheduler.STOP:
                break
    assert agree_with_ray >= 0.9 * sum(map(len, seen.values()))


def test_rung_decision_counts_who_is_ahead() -> None:
    points = {"x": (0.99, 9e5), "y": (0.98, 2e4), "z": (0.97, 5e5)}  # z dominated by y
    assert goes_on("x", points, 3) and goes_on("y", points, 3)  # both ends of the front
    assert not goes_on("z", points, 3) and goes_on("z", points, 1.01)  # 2 ahead; ⌈3/1.01⌉ = 3


def test_stops_at_max_t_and_without_a_metric_waits() -> None:
    s = scheduler()
    assert s.on_trial_result(None, trial("a"), {"training_iteration": 1}) == \
        TrialScheduler.CONTINUE
    assert s.on_trial_result(None, trial("a"), {"training_iteration": 8, "val_accuracy": 0.9,
                                                "params": 10}) == TrialScheduler.STOP
    assert not s.scheduler.set_search_properties(None, "min")
    with pytest.raises(ValueError, match="grace_period"):
        PolicySettings(rule=Rule.STOPPING, cost_key="params", max_t=2, grace_period=3,
                       reduction_factor=2)


def test_factories_pick_it_for_a_pareto_search_and_stop_over_limit_trials() -> None:
    space = load_space("default")
    pareto = make_scheduler(SearchSettings(space=space, name="p", objective="accuracy,params"))
    assert pareto.policy.settings.rule is Rule.STOPPING
    assert pareto.policy.settings.cost_key == "params"
    asha = make_scheduler(SearchSettings(space=space, name="a", scheduler="asha"))
    assert asha.policy.settings.cost_key is None
    settings = SearchSettings(space=space, name="l", max_params=50_000)
    limited = make_scheduler(settings)  # a cost limit is the policy's: a trial over it stops
    limited.set_search_properties("val_accuracy", "max")
    controller = Controller([ray_trial(n) for n in ("t1", "t2", "t3")])
    sync(limited, controller)
    t1, t2, t3 = controller.trials
    assert limited.on_trial_result(controller, t1, {"training_iteration": 1,
                                                    "val_accuracy": 0.99,
                                                    "params": 60_000}) == TrialScheduler.STOP
    for t, result in ((t2, {"params": 40_000}), (t3, {})):  # t3: cost not measured yet
        assert limited.on_trial_result(controller, t, {"training_iteration": 1,
                                                       "val_accuracy": 0.99, **result}) \
            != TrialScheduler.STOP
    # The run's stoppers no longer hold that rule.
    run = make_run_config(settings, "/tmp", [])
    assert run.stop is not None and not run.stop("t1", {"training_iteration": 1,
                                                        "params": 60_000})
