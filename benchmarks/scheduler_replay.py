"""How early-stopping schedules spend a small budget, replayed on recorded learning curves.

A search-quality run takes ~15 minutes per system and seed here, too slow to compare
schedules. ``benchmarks/early_ranks.py`` recorded, for configurations drawn at random from
``default``, the val_accuracy after each of 9 epochs (10,000 training images, 5,000
validation, precise BN). This script replays thousands of searches on those curves: each
search draws configurations at random (with replacement) from the recorded ones and spends
its trial-epochs as a schedule decides, on ``--workers`` workers whose epochs take equal
time. What it measures is the schedule alone, not the sampler (no TPE) and not wall time:

  asha          Ray's ASHA as mnist-hpo runs it (stopping type: a trial reaching a rung is
                stopped unless it is in the top 1/η of the results recorded there so far;
                Ray's own ``ASHAScheduler`` makes each decision)
  asha-promote  ASHA as Li et al. (2020) wrote it (promotion type, Syne Tune's default):
                a trial waits at its rung; a free worker continues the best waiting trial
                that is in the top 1/η of its rung, else starts a new configuration;
                mnist-hpo's ``--scheduler asha-promotion`` makes each decision
  asha-promote, budget planned
                the same scheduler told the epoch budget (``--epoch-budget``): no trial
                passes the first rung until only the 2 finalists' epochs are left, then the
                best trials are trained on
  one-epoch     every configuration one epoch, then the 2 best trained on (Egele et al.
                2023), as in ``benchmarks/search_quality.py``
  fifo          every trial runs every epoch

Reported per schedule: mean best val_accuracy seen (what the search reports), the
winner's best over all its 9 epochs (what it would reach trained to the end: the quality
of the choice), trials started, and how often the winner is the best recorded configuration.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

Curve = Sequence[float]


@dataclass(frozen=True)
class Outcome:
    best_val: float  # the best epoch any trial reported: the search's result
    winner_full: float  # the winning configuration's best over all recorded epochs
    trials: int  # trials that ran at least one epoch


def outcome(seen: list[tuple[float, int]], curves: dict[int, Curve]) -> Outcome:
    """``seen``: (val_accuracy, trial) for every epoch run; the winner is the best of them."""
    best, winner = max(seen)
    return Outcome(best, max(curves[winner]), len({trial for _, trial in seen}))


def asha(pool: Sequence[Curve], rng: random.Random, *, budget: int, workers: int,
         eta: float = 2, grace: int = 1) -> Outcome:
    """Ray's stopping-type ASHA, one bracket; its decisions are Ray's own
    ``ASHAScheduler``'s, as mnist-hpo's ``--scheduler asha`` makes them."""
    from ray.tune.schedulers import ASHAScheduler, TrialScheduler

    max_t = len(pool[0])
    scheduler = ASHAScheduler(time_attr="training_iteration", metric="val_accuracy",
                              mode="max", max_t=max_t, grace_period=grace,
                              reduction_factor=eta, brackets=1)
    curves: dict[int, Curve] = {}
    seen: list[tuple[float, int]] = []

    @dataclass
    class Trial:  # what ASHAScheduler reads of a Ray trial
        trial_id: int
        done: int = 0

    def start() -> Trial:
        curves[len(curves)] = rng.choice(pool)
        trial = Trial(len(curves) - 1)
        scheduler.on_trial_add(None, trial)  # type: ignore[arg-type]
        return trial

    running = [start() for _ in range(workers)]
    for spent in range(budget):  # round-robin: every epoch takes the same time
        slot = spent % workers
        trial = running[slot]
        value = curves[trial.trial_id][trial.done]
        trial.done += 1
        seen.append((value, trial.trial_id))
        # ASHAScheduler reads nothing of a trial but its trial_id, nor of Ray's controller.
        result = {"training_iteration": trial.done, "val_accuracy": value}
        decision = scheduler.on_trial_result(None, trial, result)  # type: ignore[arg-type]
        stop = decision == TrialScheduler.STOP
        if stop or trial.done >= max_t:
            running[slot] = start()
    return outcome(seen, curves)


def asha_promote(pool: Sequence[Curve], rng: random.Random, *, budget: int, workers: int,
                 eta: float = 3, grace: int = 1, plan_end: bool = False) -> Outcome:
    """Promotion-type ASHA (Li et al. 2020, Algorithm 2): trials pause at each rung. Its
    decisions are mnist-hpo's own ``PromotingASHA``'s, through a stand-in for Ray's
    controller that, like Ray, asks the searcher for a new trial whenever none is pending."""
    from ray.tune.experiment import Trial as RayTrial
    from ray.tune.schedulers import TrialScheduler

    from mnist_hpo.search.tune.promotion import PromotingASHA

    max_t = len(pool[0])
    scheduler = PromotingASHA(max_t=max_t, grace_period=grace, reduction_factor=eta,
                              epoch_budget=budget if plan_end else None,
                              metric="val_accuracy", mode="max")
    curves: dict[int, Curve] = {}
    seen: list[tuple[float, int]] = []

    @dataclass
    class Trial:  # what PromotingASHA reads of a Ray trial
        trial_id: int
        status: str = RayTrial.PENDING
        done: int = 0
        config: dict[str, Any] = field(default_factory=dict)

    class Controller:  # what it reads of Ray's TuneController; the search never finishes
        def __init__(self) -> None:
            self.search_alg = SimpleNamespace(is_finished=lambda: False)
            self.trials: list[Trial] = []

        def get_trials(self) -> list[Trial]:
            return self.trials

        def offer(self) -> None:
            """Like Ray, one new configuration pending, if the searcher's gate lets it."""
            if not any(t.status == RayTrial.PENDING for t in self.trials) and \
                    (not plan_end or scheduler.takes_new_configurations()):
                curves[len(curves)] = rng.choice(pool)
                self.trials.append(Trial(len(curves) - 1))

    controller = Controller()

    def next_trial() -> Trial | None:
        controller.offer()
        trial = scheduler.choose_trial_to_run(controller)
        if trial is not None:
            trial.status = RayTrial.RUNNING
        return trial  # type: ignore[return-value]

    running: list[Trial | None] = [next_trial() for _ in range(workers)]
    spent, slot = 0, -1
    while spent < budget:  # round-robin: every epoch takes the same time
        slot = (slot + 1) % workers
        if running[slot] is None:  # an idle worker: it may have work now
            running[slot] = next_trial()
        trial = running[slot]
        if trial is None:
            if all(t is None for t in running):
                break  # nothing left to train
            continue
        spent += 1
        value = curves[trial.trial_id][trial.done]
        trial.done += 1
        seen.append((value, trial.trial_id))
        result = {"training_iteration": trial.done, "val_accuracy": value}
        # The stand-in has what the scheduler reads of a trial: trial_id, status, config.
        decision = scheduler.on_trial_result(controller, trial, result)  # type: ignore[arg-type]
        if decision == TrialScheduler.PAUSE:
            trial.status = RayTrial.PAUSED
        elif decision == TrialScheduler.STOP or trial.done >= max_t:
            trial.status = RayTrial.TERMINATED
        else:
            continue
        running[slot] = next_trial()  # the worker is free: Ray asks the scheduler at once
    return outcome(seen, curves)


def one_epoch(pool: Sequence[Curve], rng: random.Random, *, budget: int, workers: int,
              finalists: int = 2) -> Outcome:
    """Every configuration one epoch, then the ``finalists`` best trained on (sequential:
    the worker count does not change what it trains)."""
    max_t = len(pool[0])
    first = max(finalists, budget - finalists * (max_t - 1))
    curves = {i: rng.choice(pool) for i in range(first)}
    seen = [(c[0], i) for i, c in curves.items()]
    for _, i in sorted(seen, reverse=True)[:finalists]:
        seen += [(v, i) for v in curves[i][1:]]
    return outcome(seen[:budget], curves)


def fifo(pool: Sequence[Curve], rng: random.Random, *, budget: int, workers: int
         ) -> Outcome:
    """No early stopping: as many whole trials as the budget holds."""
    max_t = len(pool[0])
    curves = {i: rng.choice(pool) for i in range(max(1, budget // max_t))}
    return outcome([(v, i) for i, c in curves.items() for v in c], curves)


Schedule = Callable[..., Outcome]
SCHEDULES: dict[str, tuple[Schedule, dict[str, Any]]] = {
    "asha η=2 (mnist-hpo's default)": (asha, {"eta": 2}),
    "asha η=3": (asha, {"eta": 3}),
    "asha η=4": (asha, {"eta": 4}),
    "asha-promote η=2": (asha_promote, {"eta": 2}),
    "asha-promote η=3": (asha_promote, {"eta": 3}),
    "asha-promote η=4": (asha_promote, {"eta": 4}),
    "asha-promote, budget planned": (asha_promote, {"eta": 3, "plan_end": True}),
    "one-epoch, 2 finalists": (one_epoch, {}),
    "fifo": (fifo, {}),
}


def replay(pool: Sequence[Curve], *, searches: int, budget: int, workers: int,
           seed: int = 0) -> dict[str, dict[str, Any]]:
    """Each schedule's mean outcome over ``searches`` replayed searches (the same random
    stream for each schedule)."""
    top = max(max(c) for c in pool)
    summary = {}
    for name, (schedule, options) in SCHEDULES.items():
        rng = random.Random(seed)
        runs = [schedule(pool, rng, budget=budget, workers=workers, **options)
                for _ in range(searches)]
        summary[name] = {
            "best_val": statistics.fmean(r.best_val for r in runs),
            "best_val_sd": statistics.stdev(r.best_val for r in runs),
            "winner_full": statistics.fmean(r.winner_full for r in runs),
            "trials": statistics.fmean(r.trials for r in runs),
            "winner_is_best": statistics.fmean(r.winner_full >= top for r in runs),
            "example": asdict(runs[0]),
        }
    return summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--curves", default="docs/performance/early_ranks.json",
                   help="benchmarks/early_ranks.py's output (its recalibrated curves)")
    p.add_argument("--budget", type=int, default=45, help="trial-epochs per search")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--searches", type=int, default=4000, help="replayed searches per schedule")
    p.add_argument("--quick", action="store_true", help="200 searches (the test suite)")
    p.add_argument("--out", default="docs/performance")
    args = p.parse_args()
    if args.quick:
        args.searches = 200
    pool = [run["after"] for run in json.loads(Path(args.curves).read_text())["runs"]]
    summary = replay(pool, searches=args.searches, budget=args.budget, workers=args.workers)
    print(f"{len(pool)} recorded configurations, {args.searches} searches of {args.budget} "
          f"trial-epochs on {args.workers} workers; the best configuration reaches "
          f"{max(max(c) for c in pool):.4f}")
    print(f"{'schedule':<32} {'best val':>15} {'winner, 9 ep':>12} {'trials':>7} "
          f"{'P(best)':>8}")
    for name, s in summary.items():
        print(f"{name:<32} {s['best_val']:.4f} ± {s['best_val_sd']:.4f} "
              f"{s['winner_full']:>12.4f} {s['trials']:>7.1f} {s['winner_is_best']:>8.2f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scheduler_replay.json").write_text(json.dumps(
        {"args": vars(args), "configurations": len(pool), "summary": summary}, indent=1)
        + "\n")


if __name__ == "__main__":
    main()
