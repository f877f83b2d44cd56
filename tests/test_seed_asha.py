"""ASHA keeps the warm start (the seed network) to the last epoch: the decision that stopped
it in the search-quality benchmark (a slower first epoch than the next trial's), replayed
against Ray's own ASHA. No Ray runtime, no TensorFlow."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from mnist_hpo.search.tune.asha import SeedKeepingASHA
from mnist_hpo.search.tune.factories import make_scheduler, warm_start_points
from mnist_hpo.search.tune.settings import SearchSettings
from mnist_hpo.spaces import load_space

CONTINUE, STOP = TrialScheduler.CONTINUE, TrialScheduler.STOP


def settings(**overrides: Any) -> SearchSettings:
    values: dict[str, Any] = {"space": load_space("default"), "name": "exp", "epochs": 9,
                              "warm_start": True, "scheduler": "asha"} | overrides
    return SearchSettings(**values)


def trial(name: str, config: dict[str, Any]) -> Any:
    return SimpleNamespace(trial_id=name, config=config)


def decisions(scheduler: Any, results: list[tuple[Any, int, float]]) -> list[str]:
    """Feed (trial, epoch, val_accuracy) in order; the scheduler's answer to each."""
    scheduler.set_search_properties("val_accuracy", "max")
    added: set[str] = set()
    out = []
    for t, epoch, accuracy in results:
        if t.trial_id not in added:
            scheduler.on_trial_add(None, t)
            added.add(t.trial_id)
        out.append(scheduler.on_trial_result(
            None, t, {"training_iteration": epoch, "val_accuracy": accuracy}))
    return out


def test_the_seed_network_runs_every_epoch_where_rays_asha_stops_it() -> None:
    seed_config, twin_config = warm_start_points(settings())
    seed = trial("seed", dict(seed_config))
    other = trial("other", dict(seed_config, learning_rate=0.003, batch_norm=True))
    third = trial("third", dict(seed_config, dense_units=64))
    # Benchmark seed 3: the seed network 0.967 after one epoch, the next trial higher.
    replay = [(other, 1, 0.975), (seed, 1, 0.967), (third, 1, 0.960),
              (seed, 2, 0.975), (seed, 8, 0.985), (seed, 9, 0.9886)]
    ray_asha = ASHAScheduler(time_attr="training_iteration", max_t=9, grace_period=1,
                             reduction_factor=2)
    assert decisions(ray_asha, replay[:2]) == [CONTINUE, STOP]  # what happened

    scheduler = make_scheduler(settings())
    assert isinstance(scheduler, SeedKeepingASHA)
    ours = decisions(scheduler, replay)
    # The seed trial goes on to the last epoch (where every trial stops), ...
    assert ours[1] == ours[3] == ours[4] == CONTINUE and ours[5] == STOP
    # ... and its results stay in the rungs: the third trial, below both, is stopped.
    assert ours[2] == STOP
    assert scheduler.is_kept(seed) and not scheduler.is_kept(other)
    # The modern twin (batch norm, cosine decay), the second warm start, is judged like
    # any other trial.
    assert not scheduler.is_kept(trial("twin", dict(twin_config)))


def test_without_the_warm_start_the_seed_configuration_is_judged_like_any_other() -> None:
    seed_config = warm_start_points(settings())[0]
    seed, other = trial("seed", dict(seed_config)), trial("other", dict(seed_config, zoom=0.0))
    scheduler = make_scheduler(settings(warm_start=False))  # --no-warm-start
    assert decisions(scheduler, [(other, 1, 0.975), (seed, 1, 0.967)]) == [CONTINUE, STOP]
