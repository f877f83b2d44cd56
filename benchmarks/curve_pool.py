"""What a simulated trial trains like: the recorded learning curve of the nearest real
configuration, and the seconds its epochs take (``benchmarks/simulator.py``).

The curves were recorded on real MNIST trials (10,000 training images, 5,000 validation,
9 epochs): ``docs/performance/early_ranks.json`` (16 configurations drawn from ``default``)
and the 9-epoch trials of ``docs/performance/search_quality.json`` (searches' finalists,
the seed network and its twin on several splits). Neither file records an epoch's time, so
it comes from a cost model (:class:`EpochCost`).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnist_hpo.spaces import FloatRange, IntRange, Space, resolve_config
from mnist_hpo.spaces.cost import multiply_adds

#: Training images per epoch of the recorded curves.
IMAGES = 10_000
#: The seed network's epoch on 10,000 images (+5,000 validated), as measured here.
SEED_EPOCH_S = 20.0
#: Time per training step beyond its images: NOTES.md measured the tutorial network at
#: ~1,170 images/s at batch 32 and ~1,460 at batch 128; the difference over the steps
#: saved is ~7 ms a step. Small batches cost more than their multiply-adds say.
STEP_S = (IMAGES / 1170 - IMAGES / 1460) / (math.ceil(IMAGES / 32) - math.ceil(IMAGES / 128))
#: A worker taking a trial on, or resuming one from its checkpoint (NOTES.md: ~0.5 s per
#: trial with reused workers).
START_S = 0.5

_RESULTS = Path(__file__).resolve().parents[1] / "docs" / "performance"
CURVES = (_RESULTS / "early_ranks.json", _RESULTS / "search_quality.json")


class EpochCost:
    """Seconds of one epoch of a configuration: :data:`STEP_S` per step, plus time in
    proportion to its multiply-adds per image (``spaces.cost.multiply_adds``), scaled so
    that the seed network's epoch takes :data:`SEED_EPOCH_S`. Batch norm and augmentation
    cost nothing extra here."""

    def __init__(self) -> None:
        seed = resolve_config({})
        fixed = STEP_S * math.ceil(IMAGES / int(seed["batch_size"]))
        self._per_madd = (SEED_EPOCH_S - fixed) / multiply_adds(seed)

    def __call__(self, config: Mapping[str, Any]) -> float:
        c = resolve_config(config)
        steps = math.ceil(IMAGES / int(c["batch_size"]))
        return STEP_S * steps + self._per_madd * multiply_adds(c)

    @staticmethod
    def described() -> dict[str, Any]:
        """The model's constants, for the benchmark's JSON."""
        return {"seed_epoch_s": SEED_EPOCH_S, "step_s": STEP_S, "start_s": START_S,
                "images": IMAGES,
                "rule": f"an epoch: {1000 * STEP_S:.1f} ms a step of its batch size, plus "
                        f"time in proportion to its multiply-adds, the seed network's epoch "
                        f"{SEED_EPOCH_S:.0f} s on {IMAGES:,} images; {START_S} s to start "
                        f"or resume a trial"}


@dataclass(frozen=True)
class Recorded:
    """A configuration trained for real: its val_accuracy after each epoch."""

    config: Mapping[str, Any]
    curve: tuple[float, ...]
    source: str


def load_pool(paths: Sequence[Path] = CURVES, epochs: int = 9) -> list[Recorded]:
    """Every recorded curve of ``epochs`` epochs in the benchmarks' files: ``early_ranks``
    runs (their recalibrated ``after`` curves) and ``search_quality`` runs' ``trial_curves``.

    Raises:
        ValueError: a file of neither kind.
    """
    pool: list[Recorded] = []
    for path in paths:
        saved = json.loads(Path(path).read_text())
        for i, run in enumerate(saved["runs"]):
            if "after" in run:  # early_ranks.json
                found = [(run["config"], run["after"], f"{path.name} run {i}")]
            elif "system" in run:  # search_quality.json (peers record no trial curves)
                found = [(t["config"], t["val_accuracy"],
                          f"{path.name} {run['system']} seed {run['seed']} trial {j}")
                         for j, t in enumerate(run.get("trial_curves") or [])]
            else:
                raise ValueError(f"{path}: run {i} is neither early_ranks' (`after`) nor "
                                 f"search_quality's (`system`)")
            pool += [Recorded(dict(config), tuple(float(v) for v in curve), source)
                     for config, curve, source in found if len(curve) == epochs]
    return pool


def fingerprint(pool: Sequence[Recorded]) -> str:
    """A short hash of the pool's configurations and curves: saved cases are reused only
    on the same pool."""
    text = json.dumps([[dict(r.config), r.curve] for r in pool], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class CurvePool:
    """Recorded curves, and which one a configuration replays: the nearest recorded
    configuration by the mean, over the space's searched parameters, of each parameter's
    distance: for a number, the difference as a fraction of its range (of the logarithms for
    a log-scaled one); for a category (filters and booleans included), 0 if equal, else 1; a
    parameter one side has and the other has not (``filters_3``, ``momentum``), 1. Ties (the
    seed network was recorded on many splits) are broken by a draw seeded by ``seed`` and
    the trial's number: deterministic, and every recorded run of a configuration is used.

    Args:
        recorded: The pool.
        space: The space the configurations come from.
        seed: Seeds the ties' draws.
    """

    def __init__(self, recorded: Sequence[Recorded], space: Space, seed: int = 0) -> None:
        if not recorded:
            raise ValueError("CurvePool: no recorded curves")
        self.recorded = list(recorded)
        self._domains = {k: space.domains[k] for k in space.searched}
        self._seed = seed

    def distance(self, a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
        """The distance between two configurations, 0 (same) to 1."""
        total = 0.0
        for key, domain in self._domains.items():
            if key not in a or key not in b:
                total += float((key in a) != (key in b))
            elif isinstance(domain, FloatRange | IntRange):
                scale = math.log if domain.log else float
                span = scale(domain.high) - scale(domain.low)
                total += min(1.0, abs(scale(a[key]) - scale(b[key])) / span) if span else 0.0
            else:
                total += float(a[key] != b[key])
        return total / max(1, len(self._domains))

    def nearest(self, config: Mapping[str, Any], number: int) -> Recorded:
        """The recorded run that trial ``number`` of configuration ``config`` replays."""
        distances = [self.distance(config, r.config) for r in self.recorded]
        least = min(distances)
        ties = [r for r, d in zip(self.recorded, distances, strict=True) if d == least]
        return random.Random(self._seed * 1_000_003 + number).choice(ties)

    #: How :meth:`nearest` measures, for the benchmark's JSON.
    RULE = ("nearest recorded configuration by the mean over the space's searched parameters "
            "of: |difference| / range for numbers (of logs when log-scaled), 0/1 for "
            "categories, 1 for a parameter only one side has; ties drawn by seed and trial")

    @property
    def best(self) -> float:
        """The best val_accuracy of any recorded epoch: what a search could reach."""
        return max(max(r.curve) for r in self.recorded)
