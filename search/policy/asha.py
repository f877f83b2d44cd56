"""ASHA's two rules over the results recorded at each rung.

- **Stopping type** (Ray's ``ASHAScheduler``, Li et al. 2020): a trial reaching a rung goes
  on unless its score is below the ``1 - 1/η`` percentile of the results recorded there *so
  far*; then it stops. Its result is recorded either way.
- **Promotion type** (Algorithm 2 of the same paper): a trial reaching a rung goes on only
  if it is already in the top ⌊n/η⌋ of the n results there; otherwise it waits (pauses) and
  a free worker later resumes the best waiting trial that has since entered its rung's top.

A :class:`Rung` keeps its results in the order they came (of equal scores, the first
recorded ranks first, as Ray's and earlier schedulers rank them) and sorted as they come,
so each rule's question costs a lookup, not a sort of every result: at 10,000 trials a
search asks them tens of thousands of times (benchmarks/simulated_search.py).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import TypeVar

from mnist_hpo.search.policy.rungs import percentile_of_sorted

V = TypeVar("V")


class Rung(Mapping[str, float]):
    """The scores recorded at one rung, who has passed it, and who is in its top.

    Args:
        reduction_factor: η: the top is the best ⌊n/η⌋ of the ``n`` results.
    """

    def __init__(self, reduction_factor: float) -> None:
        self._eta = reduction_factor
        self._order: dict[str, int] = {}  # trial id → when first recorded (ties rank by it)
        self._scores: dict[str, float] = {}
        self._ranked: list[tuple[float, int, str]] = []  # (-score, order, id): best first
        self._values: list[float] = []  # the scores, ascending (the stopping rule's cutoff)
        self._top: set[str] = set()
        self._passed: set[str] = set()  # promoted, resumed past it, or kept
        self._due: set[str] = set()  # in the top, not passed: waiting for a worker

    # -- the record as a mapping: trial id → score, in the order recorded -----------------

    def __contains__(self, trial_id: object) -> bool:  # faster than Mapping's
        return trial_id in self._scores

    def __getitem__(self, trial_id: str) -> float:
        return self._scores[trial_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._scores)

    def __len__(self) -> int:
        return len(self._scores)

    def record(self, trial_id: str, score: float) -> None:
        """Record ``trial_id``'s ``score`` here; a trial recorded again (retried from an
        older checkpoint) keeps its place among equal scores, with its new score."""
        if math.isnan(score):
            raise ValueError(f"rung: a score must be a number, but {trial_id!r} got NaN")
        order = self._order.setdefault(trial_id, len(self._order))
        old = self._scores.get(trial_id)
        if old is not None:
            del self._ranked[bisect.bisect_left(self._ranked, (-old, order, trial_id))]
            del self._values[bisect.bisect_left(self._values, old)]
        self._scores[trial_id] = score
        bisect.insort(self._ranked, (-score, order, trial_id))
        bisect.insort(self._values, score)
        self._retop(trial_id)

    def _retop(self, trial_id: str) -> None:
        """Keep the top the best ⌊n/η⌋ after ``trial_id`` was recorded. One result in (or
        one moved) shifts every other entry by at most one place, so besides the trial
        itself only the entries either side of the top's edge can change side."""
        k = int(len(self._ranked) / self._eta)
        here = bisect.bisect_left(self._ranked, (-self._scores[trial_id],
                                                 self._order[trial_id], trial_id))
        for position in {here, k - 1, k}:
            if 0 <= position < len(self._ranked):
                self._side(self._ranked[position][2], position < k)

    def _side(self, trial_id: str, in_top: bool) -> None:
        if in_top:
            self._top.add(trial_id)
            if trial_id not in self._passed:
                self._due.add(trial_id)
        else:
            self._top.discard(trial_id)
            self._due.discard(trial_id)

    # -- the rules' questions -------------------------------------------------------------

    def in_top(self, trial_id: str) -> bool:
        """Whether ``trial_id`` is in the best ⌊n/η⌋ recorded here (the promotion rule)."""
        return trial_id in self._top

    def has_passed(self, trial_id: str) -> bool:
        """Whether ``trial_id`` has passed this rung."""
        return trial_id in self._passed

    def mark_passed(self, trial_id: str) -> None:
        """``trial_id`` goes on past this rung (promoted, resumed, or kept)."""
        self._passed.add(trial_id)
        self._due.discard(trial_id)

    def due(self) -> list[str]:
        """The trials in the top that have not passed (they wait for a worker), best first."""
        return sorted(self._due, key=lambda t: (-self._scores[t], self._order[t]))

    def ranked(self) -> Iterator[str]:
        """Every trial recorded here, best first (of equal scores, the first recorded)."""
        return (trial_id for _, _, trial_id in self._ranked)

    def below_cutoff(self, score: float) -> bool:
        """Ray's stopping rule: ``score`` is below the ``(1 - 1/η) × 100`` percentile of the
        results recorded here so far (``_Bracket.cutoff``; nothing recorded: no cutoff)."""
        if not self._values:
            return False
        cutoff = percentile_of_sorted(self._values, (1 - 1 / self._eta) * 100)
        return not math.isnan(cutoff) and score < cutoff


def rung_to_record(rungs: Sequence[int], epoch: int, trial_id: str,
                   recorded: Mapping[int, Rung] | Mapping[int, Mapping[str, V]]) -> int | None:
    """The rung a result at ``epoch`` is judged at, as Ray's ``_Bracket.on_result`` walks
    them: the highest rung at or below ``epoch`` where ``trial_id`` has no result yet, unless
    it already has one at a higher rung; None: nothing to judge."""
    for rung in sorted(rungs, reverse=True):
        if epoch < rung or trial_id in recorded[rung]:
            continue
        return rung
    return None
