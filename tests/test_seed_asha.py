"""Ray-type (stopping) ASHA as the search runs it, through the product's Ray scheduler
(search/tune/scheduler.py, the policy's rule ``STOPPING``): the seed network (the first
warm start) runs every epoch where Ray's own ASHA stops it; its results still count."""

from __future__ import annotations

from typing import Any

from ray.tune.schedulers import ASHAScheduler, TrialScheduler
from test_promotion import Controller, sync, trial

from mnist_hpo.search.policy import Rule
from mnist_hpo.search.tune.factories import make_scheduler, warm_start_points
from mnist_hpo.search.tune.scheduler import PolicyScheduler
from mnist_hpo.search.tune.settings import SearchSettings
from mnist_hpo.spaces import load_space

CONTINUE, STOP = TrialScheduler.CONTINUE, TrialScheduler.STOP


def settings(**overrides: Any) -> SearchSettings:
    values: dict[str, Any] = {"space": load_space("default"), "name": "exp", "epochs": 9,
                              "warm_start": True, "scheduler": "asha"} | overrides
    return SearchSettings(**values)


def decisions(scheduler: Any, results: list[tuple[Any, int, float]]) -> list[str]:
    """Feed (trial, epoch, val_accuracy) in order, each trial added once as Ray adds it;
    the scheduler's answer to each."""
    scheduler.set_search_properties("val_accuracy", "max")
    controller = Controller([])
    out = []
    for t, epoch, accuracy in results:
        if t not in controller.trials:
            controller.trials.append(t)
            if isinstance(scheduler, PolicyScheduler):
                sync(scheduler, controller)
            else:
                scheduler.on_trial_add(controller, t)
        reported = {"training_iteration": epoch, "val_accuracy": accuracy}
        out.append(scheduler.on_trial_result(controller, t, reported))
        t.update_last_result(reported)
    return out


def kept(scheduler: PolicyScheduler, t: Any) -> bool:
    """Whether the scheduler shows ``t`` to the policy as a trial that runs every epoch."""
    controller = Controller([t])
    sync(scheduler, controller)
    return scheduler.snapshot(False).trial(t.trial_id).kept


def test_the_seed_network_runs_every_epoch_where_rays_asha_stops_it() -> None:
    seed_config, twin_config = warm_start_points(settings())
    # Benchmark seed 3: the seed network 0.967 after one epoch, the next trial higher.
    def replay() -> list[tuple[Any, int, float]]:
        seed = trial("seed", **seed_config)
        other = trial("other", **dict(seed_config, learning_rate=0.003, batch_norm=True))
        third = trial("third", **dict(seed_config, dense_units=64))
        return [(other, 1, 0.975), (seed, 1, 0.967), (third, 1, 0.960),
                (seed, 2, 0.975), (seed, 8, 0.985), (seed, 9, 0.9886)]
    ray_asha = ASHAScheduler(time_attr="training_iteration", max_t=9, grace_period=1,
                             reduction_factor=2)
    assert decisions(ray_asha, replay()[:2]) == [CONTINUE, STOP]  # what happened

    scheduler = make_scheduler(settings())
    assert scheduler.policy.settings.rule is Rule.STOPPING
    events = replay()
    ours = decisions(scheduler, events)
    # The seed trial goes on to the last epoch (where every trial stops), ...
    assert ours[1] == ours[3] == ours[4] == CONTINUE and ours[5] == STOP
    # ... and its results stay in the rungs: the third trial, below both, is stopped.
    assert ours[2] == STOP
    seed, other = events[1][0], events[0][0]
    assert kept(scheduler, seed) and not kept(scheduler, other)
    # The modern twin (batch norm, cosine decay), the second warm start, is judged like
    # any other trial.
    assert not kept(scheduler, trial("twin", **twin_config))


def test_without_the_warm_start_the_seed_configuration_is_judged_like_any_other() -> None:
    seed_config = warm_start_points(settings())[0]
    seed, other = trial("seed", **seed_config), trial("other", **dict(seed_config, zoom=0.0))
    scheduler = make_scheduler(settings(warm_start=False))  # --no-warm-start
    assert decisions(scheduler, [(other, 1, 0.975), (seed, 1, 0.967)]) == [CONTINUE, STOP]
