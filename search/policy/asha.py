"""ASHA's two rules over the results recorded at each rung.

- **Stopping type** (Ray's ``ASHAScheduler``, Li et al. 2020): a trial reaching a rung goes
  on unless its score is below the ``1 - 1/η`` percentile of the results recorded there *so
  far*; then it stops. Its result is recorded either way.
- **Promotion type** (Algorithm 2 of the same paper): a trial reaching a rung goes on only
  if it is already in the top ⌊n/η⌋ of the n results there; otherwise it waits (pauses) and
  a free worker later resumes the best waiting trial that has since entered its rung's top.

Rung records are ``{trial id: value}`` dicts in the order the results came: of equal
scores, the first recorded ranks first, as Ray's and today's schedulers rank them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TypeVar

from mnist_hpo.search.policy.rungs import percentile

V = TypeVar("V")


def rung_to_record(rungs: Sequence[int], epoch: int, trial_id: str,
                   recorded: Mapping[int, Mapping[str, V]]) -> int | None:
    """The rung a result at ``epoch`` is judged at, as Ray's ``_Bracket.on_result`` walks
    them: the highest rung at or below ``epoch`` where ``trial_id`` has no result yet, unless
    it already has one at a higher rung; None: nothing to judge."""
    for rung in sorted(rungs, reverse=True):
        if epoch < rung or trial_id in recorded[rung]:
            continue
        return rung
    return None


def below_cutoff(recorded: Mapping[str, float], score: float, reduction_factor: float) -> bool:
    """Ray's stopping rule: ``score`` is below the ``(1 - 1/η) × 100`` percentile of the
    results recorded at the rung before it (``_Bracket.cutoff``; nothing recorded: no cutoff).
    """
    if not recorded:
        return False
    cutoff = percentile(recorded.values(), (1 - 1 / reduction_factor) * 100)
    return not math.isnan(cutoff) and score < cutoff


def top(recorded: Mapping[str, float], reduction_factor: float) -> list[str]:
    """The promotion rule's top: the trials in the best ⌊n/η⌋ of the ``n`` results at a
    rung, best first (of equal scores, the first recorded)."""
    ranked = sorted(recorded, key=lambda trial_id: -recorded[trial_id])
    return ranked[:int(len(ranked) / reduction_factor)]
