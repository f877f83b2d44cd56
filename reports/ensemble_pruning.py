"""Which trials an exported ensemble keeps: eligibility, greedy selection, then pruning.

Greedy selection (``reports.ensemble``) maximises accuracy on the validation images, and on
a few thousand images it also fits their noise: a member with a weight of 0.03 that turns
two images right and one wrong is kept, and shipped at its full inference cost. The rule
below keeps only what the validation set can vouch for. ``n`` is the number of validation
images, ``Z`` = :data:`NOISE_Z` = 2 (about a 2.3 % one-sided chance of calling noise a gain):

1. **Eligible.** A trial is a candidate only if its val_accuracy is at least
   ``best − Z·√(2·p(1−p)/(n+2))``, ``p = (n·best + 1)/(n + 2)`` (Agresti–Caffo): the best
   trial's accuracy minus two standard errors of the difference between two accuracies each
   measured on ``n`` images. A trial further below is measurably worse than the best, so
   whatever it adds to an average is bought with its own errors (a trial stopped at epoch 1
   with 0.62 never enters). The error is that of two independent samples, larger than the
   paired one (same images): the margin errs on the side of letting a trial in, and step 3
   judges what it adds. On 5,000 images: 0.28 points below a best of 0.990, 0.49 below 0.985.
2. **Greedy selection** among the eligible, of at most K distinct members (``--ensemble
   K``; ``auto``: :data:`AUTO_MEMBERS`).
3. **Backward elimination.** The best trial (the greedy's first pick) always stays. For each
   other member, the ensemble with it and without it (its weight shared out in proportion)
   are compared image by image: ``g`` images only the ensemble with it gets right, ``l`` only
   the one without it. If the member changed nothing but noise, each of those ``g + l``
   images would go either way with even odds (McNemar's test), so ``g − l`` would have a
   standard deviation of ``√(g + l)``. The member is **useful** when ``g − l ≥ Z·√(g + l)``
   (at least 4 images net, 0.08 points on 5,000). While some member is not useful, the one
   of those whose removal costs fewest images (``g − l``) is dropped, and the rest are
   tested again. A member whose weight is too small to change any vote has ``g = l = 0`` and
   goes: no separate weight threshold is needed.
4. **The whole.** The pruned ensemble must beat the best trial alone by the same test;
   otherwise the best trial alone is exported.

5. **The export.** Steps 2 to 4 run for every K from 1 to the members of the widest
   selection (:func:`curve`, the curve a user picks a size from); ``--ensemble K`` exports
   the most accurate pruned ensemble of rows 1 to K (:func:`pick`; ``auto``: of all rows).

The tests in steps 3 and 4 run on the images the members were chosen on, so they still
flatter the ensemble: ``Z = 2`` is a floor, not a guarantee.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mnist_hpo.reports.ensemble import (
    AUTO_MEMBERS,
    Score,
    Selection,
    combine,
    greedy_selection,
    score,
)

NOISE_Z = 2.0  # standard errors a gain must reach on the validation images to count


def eligibility_threshold(best: float, images: int, z: float = NOISE_Z) -> float:
    """The lowest val_accuracy a candidate may have: ``best`` minus ``z`` standard errors
    of the difference of two accuracies on ``images`` images each (see step 1)."""
    if images < 1:
        raise ValueError(f"eligibility_threshold needs images >= 1, got {images}")
    p = (best * images + 1) / (images + 2)
    return best - z * math.sqrt(2 * p * (1 - p) / (images + 2))


def eligible(accuracies: Sequence[float], images: int) -> list[int]:
    """Indices of the accuracies within :func:`eligibility_threshold` of the highest."""
    if not accuracies:
        return []
    floor = eligibility_threshold(max(accuracies), images)
    return [i for i, a in enumerate(accuracies) if a >= floor]


@dataclass(frozen=True)
class Contribution:
    """What ``member`` changes on the validation images: ``gained`` images only the ensemble
    with it gets right, ``lost`` images only the one without it gets right."""

    member: int
    gained: int
    lost: int

    @property
    def net(self) -> int:
        return self.gained - self.lost

    @property
    def z(self) -> float:
        """``net`` in standard errors of a coin flip per disagreeing image (McNemar)."""
        changed = self.gained + self.lost
        return self.net / math.sqrt(changed) if changed else 0.0

    @property
    def useful(self) -> bool:
        return self.z >= NOISE_Z


def contribution(member: int, with_it: np.ndarray, without_it: np.ndarray,
                 labels: np.ndarray) -> Contribution:
    """Compare two ensembles' predictions (N × 10) image by image (step 3)."""
    right_with = with_it.argmax(axis=1) == labels
    right_without = without_it.argmax(axis=1) == labels
    return Contribution(member, int(np.sum(right_with & ~right_without)),
                        int(np.sum(~right_with & right_without)))


@dataclass(frozen=True)
class Pruned:
    """A selection after steps 3 and 4.

    Attributes:
        weights: Kept member → weight (summing to 1), the best trial first.
        score: The kept ensemble's validation accuracy and log loss.
        dropped: The members step 3 dropped, in order, each as measured when it went.
        against_best: Step 4: what the members but the best trial add to it, as one
            contribution (``None`` when step 3 left the best trial alone). When it is not
            useful, ``weights`` is the best trial alone.
    """

    weights: dict[int, float]
    score: Score
    dropped: list[Contribution]
    against_best: Contribution | None


def prune(probs: Sequence[np.ndarray], labels: np.ndarray,
          weights: dict[int, float]) -> Pruned:
    """Steps 3 and 4 on a greedy selection's ``weights`` (the best trial first)."""
    anchor = next(iter(weights))
    order = {member: i for i, member in enumerate(weights)}
    current = _normalised(weights)
    dropped: list[Contribution] = []
    while len(current) > 1:
        full = combine(probs, current)
        failing = [c for c in (contribution(m, full, combine(probs, _normalised(
            _without(current, m))), labels) for m in current if m != anchor) if not c.useful]
        if not failing:
            break
        # The cheapest to lose first; on a tie, the weaker evidence, the smaller weight,
        # the later pick.
        weakest = min(failing, key=lambda c: (c.net, c.z, current[c.member], -order[c.member]))
        dropped.append(weakest)
        current = _normalised(_without(current, weakest.member))
    against_best = None
    if len(current) > 1:
        against_best = contribution(-1, combine(probs, current), probs[anchor], labels)
        if not against_best.useful:
            current = {anchor: 1.0}
    return Pruned(current, score(combine(probs, current), labels), dropped, against_best)


@dataclass(frozen=True)
class Row:
    """One K of the curve: greedy selection of at most ``cap`` members, and what pruning
    keeps of it."""

    cap: int
    greedy: Selection
    pruned: Pruned


def curve(probs: Sequence[np.ndarray], labels: np.ndarray,
          max_members: int | None = None) -> list[Row]:
    """Steps 2 to 4 for every cap from 1 to the members of the widest selection (step 1 is
    the caller's: it decides which trials to load).

    The widest selection allows ``max(max_members, AUTO_MEMBERS)`` members and is the last
    row; row ``K`` before it is :func:`greedy_selection` with ``max_members=K`` (what
    ``--ensemble K`` chose before pruning existed).
    """
    widest = greedy_selection(probs, labels, max_members=max(max_members or 0, AUTO_MEMBERS))
    caps = range(1, len(widest.weights) + 1)
    selections = [greedy_selection(probs, labels, max_members=k) if k < len(widest.weights)
                  else widest for k in caps]
    return [Row(k, s, prune(probs, labels, s.weights))
            for k, s in zip(caps, selections, strict=True)]


def pick(rows: list[Row], max_members: int | None) -> Row:
    """The row ``--ensemble K`` exports (``None``: auto, all rows): of rows 1 to K, the one
    whose pruned ensemble is the most accurate on the validation images, then the one with
    fewer members, then the lower log loss, then the smaller K.

    Pruning one wide selection can end smaller than pruning a narrower one (a member that
    looks redundant beside two others goes first, and then those two fall short alone):
    every row's pruned ensemble passes the rule, so the export takes the best of them, and
    what ``--ensemble K`` exports never gets worse as K grows.
    """
    allowed = rows[:min(max_members or len(rows), len(rows))]
    return max(allowed, key=lambda r: (r.pruned.score.accuracy, -len(r.pruned.weights),
                                       -r.pruned.score.log_loss, -r.cap))


def _without(weights: dict[int, float], member: int) -> dict[int, float]:
    return {m: w for m, w in weights.items() if m != member}


def _normalised(weights: dict[int, float]) -> dict[int, float]:
    total = sum(weights.values())
    return {m: w / total for m, w in weights.items()}
