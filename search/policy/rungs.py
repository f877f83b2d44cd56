"""The rungs of ASHA, and the cutoff of Ray's stopping rule: the one rung function every
rule of the policy uses."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def rungs(max_t: int, grace_period: int, reduction_factor: float) -> tuple[int, ...]:
    """The epochs where a trial is judged, below ``max_t``: the first epoch at or past
    ``grace_period × η^k`` for k = 0, 1, 2...

    The epoch *at or past* a milestone is Ray's rule (its ``_Bracket`` judges a result once
    ``epoch >= milestone``): with an integer η they are the milestones themselves; with
    η = 2.5 and a grace period of 1, epochs 1, 3 and 7. A trial at ``max_t`` is not judged:
    it has ended.
    """
    if not 0 < grace_period <= max_t or reduction_factor <= 1:
        raise ValueError(f"rungs: need 0 < grace_period <= max_t and reduction_factor > 1, "
                         f"but got ({grace_period=}, {max_t=}, {reduction_factor=})")
    out: list[int] = []
    k = 0
    while (milestone := grace_period * reduction_factor ** k) < max_t:
        epoch = math.ceil(milestone)
        if epoch < max_t and epoch not in out:
            out.append(epoch)
        k += 1
    return tuple(out)


def percentile(values: Iterable[float], q: float) -> float:
    """``numpy.nanpercentile(values, q)`` with its default (linear) method, to the last bit:
    NaN ignored, NaN if nothing is left. Ray's ASHA cuts at this percentile; the policy
    needs no numpy to reproduce it (tests/test_policy.py compares the two)."""
    return percentile_of_sorted(sorted(v for v in values if not math.isnan(v)), q)


def percentile_of_sorted(ordered: Sequence[float], q: float) -> float:
    """:func:`percentile` of values already sorted ascending, without NaN."""
    if not ordered:
        return math.nan
    n = len(ordered)
    index = (n - 1) * (q / 100)
    if index >= n - 1:
        return ordered[-1]
    below = math.floor(index)
    gamma = index - below
    a, b = ordered[below], ordered[below + 1]
    # numpy's _lerp: from the nearer end, so that a weight of 0 or 1 gives an end exactly.
    return b - (b - a) * (1 - gamma) if gamma >= 0.5 else a + (b - a) * gamma
