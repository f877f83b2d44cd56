"""How early-stopping schedules spend a small budget, replayed on recorded learning curves.

A search-quality run takes ~15 minutes per system and seed here, too slow to compare
schedules. ``benchmarks/early_ranks.py`` recorded, for configurations drawn at random from
``default``, the val_accuracy after each of 9 epochs (10,000 training images, 5,000
validation, precise BN). This script replays thousands of searches on those curves: each
search draws configurations at random (with replacement) from the recorded ones and spends
its trial-epochs as a schedule decides, on ``--workers`` workers whose epochs take equal
time. What it measures is the schedule alone, not the sampler (no TPE) and not wall time:

  asha          Ray's ASHA as mnist-hpo runs it (stopping type: a trial reaching a rung is
                stopped unless it is in the top 1/η of the results recorded there so far)
  asha-promote  ASHA as Li et al. (2020) wrote it (promotion type, Syne Tune's default):
                a trial waits at its rung; a free worker continues the best waiting trial
                that is in the top 1/η of its rung, else starts a new configuration
  asha-promote, budget planned
                the same scheduler told the epoch budget (``--epoch-budget``): no trial
                passes the first rung until only the 2 finalists' epochs are left, then the
                best trials are trained on
  one-epoch     every configuration one epoch, then the 2 best trained on (Egele et al.
                2023), as in ``benchmarks/search_quality.py``
  fifo          every trial runs every epoch

The ASHA schedules are decided by mnist-hpo's own policy (``mnist_hpo.search.policy``),
the very object the product's Ray scheduler asks (``search/tune/scheduler.py``): no second
copy of the rules, no Ray.

Reported per schedule: mean best val_accuracy seen (what the search reports), the
winner's best over all its 9 epochs (what it would reach trained to the end: the quality
of the choice), trials started, and how often the winner is the best recorded configuration.

The result goes to ``--out``/scheduler_replay.json (default: docs/performance, where the
published figures live); a ``--quick`` run writes to a new temporary folder instead, and
refuses (exit 2) an ``--out`` that holds a full run's scheduler_replay.json
(``benchmarks/output.py``).

    python benchmarks/scheduler_replay.py           # 30 s, 4,000 searches per schedule
    python benchmarks/scheduler_replay.py --quick   # 200 searches
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.output import out_dir
from mnist_hpo.search.policy import (
    Admission,
    Decision,
    Policy,
    PolicySettings,
    Rule,
    Snapshot,
    TrialState,
    TrialView,
)

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


@dataclass
class _Trial:
    """A replayed trial: what the policy's snapshot is made of."""

    number: int
    curve: Curve
    state: TrialState = TrialState.PENDING
    scores: list[float] = field(default_factory=list)

    def view(self) -> TrialView:
        return TrialView(str(self.number), self.number, self.state, len(self.scores),
                         tuple(self.scores))


def _snapshot(trials: Sequence[_Trial]) -> Snapshot:
    # The replayed search never runs out of configurations: the budget ends it.
    return Snapshot(tuple(t.view() for t in trials), searcher_finished=False)


def _report(policy: Policy, trials: Sequence[_Trial], trial: _Trial) -> Decision:
    """``trial`` trains its next epoch; the policy decides, and is told if it ended."""
    trial.scores.append(trial.curve[len(trial.scores)])
    decision = policy.on_result(_snapshot(trials), str(trial.number))
    if decision is Decision.STOP:
        policy.on_end(_snapshot(trials), str(trial.number))
        trial.state = TrialState.ENDED
    elif decision is Decision.PAUSE:
        trial.state = TrialState.PAUSED
    return decision


def asha(pool: Sequence[Curve], rng: random.Random, *, budget: int, workers: int,
         eta: float = 2, grace: int = 1) -> Outcome:
    """Ray's stopping-type ASHA, one bracket, as mnist-hpo's ``--scheduler asha`` decides it:
    the product's own policy (``mnist_hpo.search.policy``, rule ``STOPPING``)."""
    max_t = len(pool[0])
    policy = Policy(PolicySettings(rule=Rule.STOPPING, max_t=max_t, grace_period=grace,
                                   reduction_factor=eta, kept_warm_starts=0))
    trials: list[_Trial] = []
    order: list[tuple[float, int]] = []

    def start() -> _Trial:
        trial = _Trial(len(trials), rng.choice(pool), TrialState.TRAINING)
        trials.append(trial)
        return trial

    running = [start() for _ in range(workers)]
    for spent in range(budget):  # round-robin: every epoch takes the same time
        slot = spent % workers
        trial = running[slot]
        _report(policy, trials, trial)
        order.append((trial.scores[-1], trial.number))
        if trial.state is TrialState.ENDED:  # stopped, or its last epoch
            running[slot] = start()
    return outcome(order, {t.number: t.curve for t in trials})


def asha_promote(pool: Sequence[Curve], rng: random.Random, *, budget: int, workers: int,
                 eta: float = 3, grace: int = 1, plan_end: bool = False) -> Outcome:
    """Promotion-type ASHA (Li et al. 2020, Algorithm 2): trials pause at each rung. Its
    decisions are mnist-hpo's own policy's (rule ``PROMOTION``, the planned end with
    ``plan_end``), asked as Ray's controller asks the product's scheduler: one new
    configuration pending whenever none is and the policy admits one, then a free worker
    takes the trial the policy chooses, else the pending one."""
    max_t = len(pool[0])
    policy = Policy(PolicySettings(rule=Rule.PROMOTION, max_t=max_t, grace_period=grace,
                                   reduction_factor=eta, plan_end=plan_end,
                                   epoch_budget=budget if plan_end else None))
    trials: list[_Trial] = []
    order: list[tuple[float, int]] = []

    def next_trial() -> _Trial | None:
        if not any(t.state is TrialState.PENDING for t in trials) and \
                policy.admit(_snapshot(trials)) is Admission.START:
            trials.append(_Trial(len(trials), rng.choice(pool)))
        choice = policy.choose(_snapshot(trials))
        chosen = trials[int(choice.resume)] if choice.resume is not None else \
            next((t for t in trials if t.state is TrialState.PENDING), None)
        if chosen is not None:
            chosen.state = TrialState.TRAINING
        return chosen

    running: list[_Trial | None] = [next_trial() for _ in range(workers)]
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
        if _report(policy, trials, trial) is Decision.CONTINUE:
            order.append((trial.scores[-1], trial.number))
            continue
        order.append((trial.scores[-1], trial.number))
        running[slot] = next_trial()  # the worker is free: Ray asks the scheduler at once
    return outcome(order, {t.number: t.curve for t in trials})


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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--curves", default="docs/performance/early_ranks.json",
                   help="benchmarks/early_ranks.py's output (its recalibrated curves)")
    p.add_argument("--budget", type=int, default=45, help="trial-epochs per search")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--searches", type=int, default=4000, help="replayed searches per schedule")
    p.add_argument("--quick", action="store_true",
                   help="200 searches (the test suite), written to a temporary folder "
                        "unless --out is given")
    p.add_argument("--out", default=None,
                   help="folder for scheduler_replay.json (default: docs/performance; "
                        "with --quick a new temporary folder)")
    args = p.parse_args(argv)
    if args.quick:
        args.searches = 200
    args.out = str(out_dir(args.out, quick=args.quick, default="docs/performance",
                           name="scheduler_replay", files=["scheduler_replay.json"]))
    return args


def main() -> None:
    args = parse_args()
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
    print(f"written to {out / 'scheduler_replay.json'}")
    (out / "scheduler_replay.json").write_text(json.dumps(
        {"args": vars(args), "configurations": len(pool), "summary": summary}, indent=1)
        + "\n")


if __name__ == "__main__":
    main()
