"""Settings → Ray Tune and Optuna objects. No TensorFlow here: unit-tested on its own."""

from __future__ import annotations

import dataclasses
import functools
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from ray import tune
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from mnist_hpo.search.experiment.names import JOURNAL
from mnist_hpo.search.policy import Policy, policy_settings
from mnist_hpo.search.tune.callbacks import (
    EpochBudget,
    FailureBudget,
    FolderForEveryTrial,
    StoppedMark,
    TimeBudget,
    trial_dirname,
)
from mnist_hpo.search.tune.checkpoints import CheckpointPruner
from mnist_hpo.search.tune.evidence import SeesUnfinished
from mnist_hpo.search.tune.idle import IdleWait
from mnist_hpo.search.tune.journal import open_journal
from mnist_hpo.search.tune.prior import PRIOR_OPTIONS, PriorSampler
from mnist_hpo.search.tune.scheduler import PolicyScheduler
from mnist_hpo.search.tune.searcher import OptunaSearcher
from mnist_hpo.search.tune.settings import METRIC, MODE, SearchSettings
from mnist_hpo.spaces import resolve_config
from mnist_hpo.spaces.cost import cheapest


@dataclass(frozen=True)
class Extension:
    """A run of more trials in an existing experiment: see ``mnist_hpo.search.tune.extend``."""

    study_name: str
    trials: int
    offset: int
    warm_start: bool = False


#: TPE as mnist-hpo runs it; ``search.json`` records exactly these (``sampler_settings``).
#: group=True: our spaces are conditional (filters_3 exists only for 3 blocks), and the
#: multivariate TPE of Optuna 5 then models each group of co-occurring parameters jointly;
#: constant_liar: concurrent trials are not all sampled at the same point;
#: n_startup_trials: 5 trials before TPE models anything, since a search here runs 10-60
#: trials: with the warm start, the prior's draws are TPE's start-up trials (search/tune/
#: prior.py). Without it they are random, and 5 were too few: seeing the trials waiting at
#: the first rung, TPE settled on the best of 5 random first epochs and drew 21 of the next
#: 24 near it (benchmark seeds 0, 1: val 0.9842, 0.9894, against 0.9862, 0.9906 for random
#: draws); with Optuna's default of 10 it ended level with them (0.9872, 0.9900).
TPE_OPTIONS: dict[str, Any] = {"multivariate": True, "group": True, "constant_liar": True,
                               "n_startup_trials": 5}
COLD_STARTUP = 10  # --no-warm-start's n_startup_trials


@dataclass(frozen=True)
class Sampling:
    """The search's sampler, and the prior inside it (held here, where it is built: the
    searcher asks it which trials it drew)."""

    sampler: optuna.samplers.BaseSampler
    prior: PriorSampler | None = None


def make_sampling(settings: SearchSettings) -> Sampling:
    """Optuna's sampler, seeded here (one seed, one place): TPE or random, drawing near the
    seed network early on (:class:`PriorSampler`) unless ``--no-warm-start``, and seeing
    trials that wait at a rung as what is known of them (:class:`SeesUnfinished`).

    Without honest early stopping (``OptunaSearch``, the benchmark's Ray peer), Optuna's
    default TPE, as a user of Ray's stock searcher gets it.
    """
    if not settings.honest_early_stopping:
        return Sampling(optuna.samplers.TPESampler(seed=settings.seed))
    base: optuna.samplers.BaseSampler
    if settings.sampler == "random":
        base = optuna.samplers.RandomSampler(seed=settings.seed)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # group
            base = optuna.samplers.TPESampler(seed=settings.seed, **tpe_options(settings))
    prior = None
    if uses_prior(settings):
        # Its own stream (seed + 1): whether a trial comes from the prior is not tied to the
        # base sampler's draws.
        base = prior = PriorSampler(base, resolve_config({}), seed=settings.seed + 1,
                                    **PRIOR_OPTIONS)
    # Trials waiting at a rung are RUNNING in the study until they end: the sampler (and the
    # prior's trust) would otherwise learn nothing from them (search/tune/evidence.py).
    return Sampling(SeesUnfinished(base), prior)


def make_sampler(settings: SearchSettings) -> optuna.samplers.BaseSampler:
    """The sampler of :func:`make_sampling`."""
    return make_sampling(settings).sampler


def tpe_options(settings: SearchSettings) -> dict[str, Any]:
    """:data:`TPE_OPTIONS`, with :data:`COLD_STARTUP` start-up trials without the warm
    start."""
    startup = TPE_OPTIONS["n_startup_trials"] if settings.warm_start else COLD_STARTUP
    return TPE_OPTIONS | {"n_startup_trials": startup}


def uses_prior(settings: SearchSettings) -> bool:
    """Whether TPE draws near the seed network early on. Not in a Pareto search: the prior
    says where accuracy is, and would spend the start of the search next to the seed's
    887,530 parameters, at one end of the front."""
    return settings.warm_start and not settings.goal.multi


def sampler_settings(settings: SearchSettings) -> dict[str, Any]:
    """What :func:`make_sampler` builds, and how trials are told to it, for ``search.json``."""
    described: dict[str, Any] = {
        "type": "TPESampler" if settings.sampler == "tpe" else "RandomSampler",
        "seed": settings.seed,
        "early_stopped_trials_told_as": "PRUNED" if settings.honest_early_stopping
        else "COMPLETE"}
    if not settings.honest_early_stopping:
        return described | {"options": "Optuna's defaults"}
    described["unfinished_trials_seen_as"] = "PRUNED at their last epoch"
    if settings.sampler == "tpe":
        described |= tpe_options(settings)
    if uses_prior(settings):
        described["prior"] = {"center": "seed network", **PRIOR_OPTIONS}
    if settings.goal.limits and settings.sampler == "tpe":
        described["constraints"] = settings.goal.limits
    return described


#: The warm start of a single-objective search, as changes to the seed network: the network
#: itself, then its modern twin, the same network with batch normalization after each
#: convolution and cosine learning-rate decay. A short search rarely draws that pair (a
#: fifth of the prior's draws have batch norm, each with a dozen other changes), and it is
#: what measured best at 10,000 images: on two splits outside the search-quality
#: benchmark's seeds (10 and 11; 9 epochs) the seed network tested 98.93 and 99.14 %, with
#: batch norm 99.16 and 99.22 %, with both changes 99.37 and 99.32 %.
WARM_STARTS: tuple[dict[str, Any], ...] = ({}, {"batch_norm": True, "lr_schedule": "cosine"})


def warm_start_points(settings: SearchSettings) -> list[dict[str, Any]]:
    """The configurations evaluated first, those of :data:`WARM_STARTS` the space can
    produce (none unless ``settings.warm_start``): the seed network first, so a search never
    ends below the tutorial's network, then its modern twin.

    A Pareto search starts instead at both ends of its front: the seed network and the
    space's cheapest network (``spaces.cost.cheapest``), trained like the seed. Random draws
    rarely go there (1 in 400 of ``default``'s are within 1/20 of the seed's parameters),
    and once it is on the front, multi-objective TPE samples near it as near the seed.
    """
    if not settings.warm_start:
        return []
    seed = resolve_config({})
    if not settings.space.contains(seed):
        return []
    if settings.goal.cost:
        points = [seed, cheapest(settings.space, settings.goal.cost)]
    else:
        points = [resolve_config(change) for change in WARM_STARTS]
    unique = [p for i, p in enumerate(points) if p not in points[:i]]
    return [{k: v for k, v in p.items() if k in settings.space.searched}
            for p in unique if settings.space.contains(p)]


def make_searcher(settings: SearchSettings, experiment_dir: Path | None,
                  study_name: str | None = None, warm_start: bool = True) -> Searcher:
    """The searcher over the space's define-by-run function, with its Optuna study in a
    journal on disk (optuna-dashboard opens it) when the experiment lives on a local path.

    :class:`~mnist_hpo.search.tune.searcher.OptunaSearcher` tells early-stopped trials to
    Optuna as PRUNED; ``honest_early_stopping=False`` runs Ray's stock ``OptunaSearch``
    instead (every trial COMPLETE with its last score), for comparison.
    """
    storage = open_journal(experiment_dir / JOURNAL) if experiment_dir is not None else None
    points = warm_start_points(settings) if warm_start else []
    if not settings.honest_early_stopping:
        return OptunaSearch(space=settings.space.suggest, metric=METRIC, mode=MODE,
                            points_to_evaluate=points or None,
                            sampler=make_sampling(settings).sampler,
                            storage=storage, study_name=study_name or settings.name)
    sampling = make_sampling(settings)
    return OptunaSearcher(settings.space.suggest, sampler=sampling.sampler,
                          prior=sampling.prior,
                          study_name=study_name or settings.name, max_epochs=settings.epochs,
                          metric=METRIC, mode=MODE, storage=storage, points_to_evaluate=points,
                          cost_key=settings.goal.cost_key, limits=settings.goal.limits)


def make_scheduler(settings: SearchSettings, records: bool = True) -> PolicyScheduler:
    """The search's decisions (``search/policy/``: ASHA of Ray's stopping type or of the
    promotion type, FIFO, fronts in a Pareto search, the planned end of an epoch budget,
    ``--max-concurrent``, cost limits) behind Ray's scheduler interface.

    The warm starts the policy keeps (``PolicySettings.keeps``: both under the promotion
    type, the seed network under the stopping type, none in a Pareto search) run every
    epoch: the scheduler recognises them by their configurations. ``records``: the
    experiment folder is local (the plan's records are written there).
    """
    rules = dataclasses.replace(policy_settings(settings), workers=workers(settings))
    kept = [point for number, point in enumerate(warm_start_points(settings), start=1)
            if rules.keeps(number)]
    return PolicyScheduler(Policy(rules), kept=kept, metric=METRIC, records=records)


def workers(settings: SearchSettings) -> int | None:
    """Trials that can train at once: ``--max-concurrent``, and what the running Ray
    cluster's CPUs and GPUs hold of the per-trial resources (None: Ray is not running and
    no limit was given; the policy then counts the trials it sees training).

    The scheduler is built after Ray has started (``driver.run_tuner``), and keeps the
    figure it was built with: a resumed search plans with the cluster it began on. An
    autoscaling cluster's later nodes are not counted, so its plan errs early."""
    import ray

    fits = [settings.max_concurrent] if settings.max_concurrent else []
    if ray.is_initialized():
        resources = ray.cluster_resources()  # type: ignore[no-untyped-call]
        fits.append(int(resources.get("CPU", 0) // settings.cpus_per_trial))
        if settings.gpus_per_trial:
            fits.append(int(resources.get("GPU", 0) // settings.gpus_per_trial))
    return max(1, min(fits)) if fits else None


def make_tune_config(settings: SearchSettings, experiment_dir: Path | None, *,
                     extension: Extension | None = None) -> tune.TuneConfig:
    """What to search: metric, sampler, scheduler, how many, how long, how many at once.

    ``extension``: more trials for an existing experiment (``mnist-hpo extend``): its own
    pre-filled Optuna study, no warm start, trial numbers after the existing ones.
    """
    ext = extension or Extension(study_name=settings.name, trials=settings.trials,
                                 offset=0, warm_start=True)
    dirname = functools.partial(trial_dirname, offset=ext.offset)
    searcher = make_searcher(settings, experiment_dir, ext.study_name, ext.warm_start)
    # The searcher asks the scheduler whether a configuration may start: the scheduler
    # hands it the question at each of Ray's calls (search/tune/scheduler.py).
    scheduler = make_scheduler(settings, records=experiment_dir is not None)
    return tune.TuneConfig(
        metric=METRIC, mode=MODE,
        search_alg=searcher,
        scheduler=scheduler,
        num_samples=ext.trials,
        # Ray's limit counts paused trials as running: the promotion type limits itself.
        max_concurrent_trials=None if settings.scheduler == "asha-promotion"
        else settings.max_concurrent,
        time_budget_s=None,  # a stopper of make_run_config's, which says when it ran out
        # One process per CPU slot imports TensorFlow once and runs trial after trial.
        reuse_actors=settings.reuse_workers,
        trial_name_creator=dirname,
        trial_dirname_creator=dirname,
    )


def make_run_config(settings: SearchSettings, storage_path: str,
                    callbacks: list[tune.Callback], experiment: Path | None = None
                    ) -> tune.RunConfig:
    """Where and how to run: storage, the best and latest checkpoint of each trial, retries,
    the failure, epoch and time budgets, quiet output. ``experiment``: the local experiment
    folder (None for a URI), where the time budget writes down what is left of it."""
    budget = FailureBudget(settings.max_failed_trials)
    # A trial over a cost limit is stopped by the policy (make_scheduler).
    stoppers = [budget, EpochBudget(settings.epoch_budget)]
    if settings.time_budget_s:
        stoppers.append(TimeBudget(settings.time_budget_s,
                                   None if experiment is None else str(experiment)))
    stop = tune.stopper.CombinedStopper(*stoppers)
    return tune.RunConfig(
        name=settings.name,
        storage_path=storage_path,
        # Every epoch is checkpointed; CheckpointPruner keeps the best (by val_accuracy)
        # and the latest. Ray's num_to_keep would save the experiment state at every one,
        # and a score attribute keeps Ray's list of them sorted by a walk at each one.
        checkpoint_config=tune.CheckpointConfig(num_to_keep=None, checkpoint_frequency=1),
        # A failed trial (an exception, a lost node) is retried from its last checkpoint
        # this many times, then recorded as errored; the search goes on either way.
        failure_config=tune.FailureConfig(max_failures=settings.max_failures),
        callbacks=[*callbacks, budget, StoppedMark(ending=stop.stop_all),
                   FolderForEveryTrial(), CheckpointPruner(), IdleWait()],
        stop=stop,
        verbose=0,
    )


def trial_resources(settings: SearchSettings) -> dict[str, float]:
    """Ray resources of one trial: CPUs, and GPUs (fractions share one GPU)."""
    resources = {"cpu": settings.cpus_per_trial}
    if settings.gpus_per_trial:
        resources["gpu"] = settings.gpus_per_trial
    return resources
