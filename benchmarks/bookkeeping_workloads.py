"""The workloads of ``benchmarks/ray_bookkeeping.py`` (Ray Tune's scalability workloads
scaled to this machine) and the stacks it runs on them."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Workload:
    """Trials that sleep ``seconds`` per result and report ``results`` times, on ``cpus``
    logical CPUs (one per trial)."""

    name: str
    trials: int
    results: int
    seconds: float
    cpus: int

    def minimum_s(self, produced: int | None = None, longest: int | None = None) -> float:
        """Wall time with no overhead at all: every CPU sleeping from start to end. With
        the results a run ``produced`` and its ``longest`` trial (in results), the bound
        for that run (ASHA stops trials, so the work differs from the plan)."""
        if produced is None or longest is None:
            return math.ceil(self.trials / self.cpus) * self.results * self.seconds
        return max(produced * self.seconds / self.cpus, longest * self.seconds)


WORKLOADS = ("bookkeeping", "throughput")
FULL = {"bookkeeping": Workload("bookkeeping", trials=2000, results=1, seconds=1.0, cpus=16),
        "throughput": Workload("throughput", trials=64, results=100, seconds=0.2, cpus=64)}
#: On as many logical CPUs as this machine has cores: each trial actor is a worker process
#: Ray starts (about a CPU second on 2 cores), and 4 of them took a case 5–7 s, 2 of them
#: 3–5 s. A run took 49 s on 4 CPUs and 37 s on 2 (the suite runs it beside the simulated
#: search's quick mode, and the two are to take under a minute together).
QUICK = {"bookkeeping": Workload("bookkeeping", trials=12, results=1, seconds=0.1, cpus=2),
         "throughput": Workload("throughput", trials=2, results=10, seconds=0.1, cpus=2)}
STACKS = ("ray-fifo", "ray-optuna-asha", "mnist-hpo", "mnist-hpo-promotion",
          "mnist-hpo-no-checkpoints", "mnist-hpo-random")
RAY_STOCK = "ray-fifo"  # what the ratio column divides by
#: The extra rows, left out of --quick (each case costs the CI run ~5 s of Tune's start and end).
EXTRA = ("mnist-hpo-promotion", "mnist-hpo-no-checkpoints", "mnist-hpo-random")
#: Stacks that run every trial to its last result: their results are trials × results.
FIFO_STACKS = ("ray-fifo", "mnist-hpo", "mnist-hpo-no-checkpoints", "mnist-hpo-random")
SEED = 0
IMAGES = 55_000  # what ``images_per_second`` pretends an epoch saw
#: The one key the sleeping trainable adds to EpochTrainable's: a case whose every result
#: has it ran no other trainable.
SLEPT = "slept_s"


def workloads(args: argparse.Namespace) -> dict[str, Workload]:
    """Every workload at this invocation's scale (``--quick``, the overrides on the
    selected ones): what a saved case must match to be reused."""
    scale = QUICK if args.quick else FULL
    overrides = {k: getattr(args, k) for k in ("trials", "results", "seconds", "cpus")
                 if getattr(args, k) is not None}
    return {name: replace(w, **overrides) if name in args.workloads else w
            for name, w in scale.items()}
