"""Which trials the planned end of a budget trains to the end: finalists chosen for the
ensemble that will be exported, accurate at the first rung and unlike each other.

The rule, greedy (docs/design/scheduling.md, "The finalists"):

1. The candidates are ranked by their first-rung score, best first (ties: the runner's
   order). The first finalist is the best.
2. Each next finalist comes from the *pool*: the candidates within noise of the best
   first-rung score (:func:`margin`: two standard errors of the difference between two
   accuracies measured on the validation images, the margin the ensemble export's
   eligibility uses), at most the best ``2 × slots`` of them. Of the pool, the one most
   *unlike* those already picked: whose smallest disagreement with any of them is
   largest. The kept warm starts count as already picked (they are trained to the end
   anyway and will be in the ensemble's choice). Ties, and candidates with nothing to
   compare (no signature), go by score.
3. When the pool is spent, the rest by score.

"Unlike" is measured by :func:`disagreement`: the share of validation images on which two
trials' predicted labels at the first rung differ (the trials' ``signature``). Two networks
that err on different images average into a better ensemble than two that err alike; at
the first rung the disagreement mixes that with each network's unfinished training, hence
the pool: only candidates as accurate as the best, within noise, are picked for it.

Without signatures (none reported, as in every golden trace) every step 2 is a tie and the
choice is the score order: the finalists of before.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: Standard errors below the best first-rung score a pooled candidate may be: the noise
#: margin of ``reports.ensemble_pruning.NOISE_Z`` (the policy imports nothing of reports).
NOISE_Z = 2.0


@dataclass(frozen=True)
class Finalist:
    """One finalist and why it was picked.

    Attributes:
        id: The trial.
        score: Its first-rung score.
        reason: ``"best"`` (the best first-rung score), ``"unlike"`` (the pooled candidate
            most unlike those picked before it) or ``"score"`` (next by score: no pool left,
            or nothing to compare).
        unlike: Its smallest disagreement with those picked before it, the kept warm
            starts included (None: nothing to compare).
    """

    id: str
    score: float
    reason: str
    unlike: float | None = None


def disagreement(a: bytes, b: bytes) -> float:
    """The share of images whose predicted labels differ between signatures ``a`` and
    ``b`` (one byte per image; compared over the shorter)."""
    n = min(len(a), len(b))
    if n == 0:
        return 0.0
    # Equal bytes XOR to a zero byte: one big-integer XOR, then a count in C.
    xor = int.from_bytes(a[:n], "big") ^ int.from_bytes(b[:n], "big")
    return (n - xor.to_bytes(n, "big").count(0)) / n


def margin(best: float, images: int, z: float = NOISE_Z) -> float:
    """``z`` standard errors of the difference between two accuracies near ``best``, each
    measured on ``images`` images (Agresti–Caffo: ``p = (n·best + 1) / (n + 2)``)."""
    p = (best * images + 1) / (images + 2)
    return z * math.sqrt(2 * p * (1 - p) / (images + 2))


def pick(ranked: Sequence[str], first: Mapping[str, float], slots: int,
         signatures: Mapping[str, bytes], picked_before: Sequence[bytes] = ()
         ) -> list[Finalist]:
    """The first ``slots`` finalists of ``ranked`` (candidate ids, best first-rung score
    first), in the order picked (see the module's rule).

    Args:
        first: Candidate id → its first-rung score.
        signatures: Candidate id → its signature, for those that reported one.
        picked_before: The signatures of the kept warm starts.
    """
    if not ranked or slots < 1:
        return []
    best = ranked[0]
    chosen = [Finalist(best, first[best], "best",
                       _unlike(signatures.get(best), picked_before))]
    images = next((len(s) for s in signatures.values() if s), 0)
    floor = first[best] - margin(first[best], images) if images else math.inf
    pool = [t for t in ranked[1:2 * slots] if first[t] >= floor]
    pooled = set(pool)
    # Lazily: a search of 10,000 trials asks this at every event, for a few finalists.
    rest = (t for t in ranked[1:] if t not in pooled)
    while len(chosen) < slots:
        references = [*picked_before, *(s for f in chosen
                                        if (s := signatures.get(f.id)) is not None)]
        measured = {t: _unlike(signatures.get(t), references) for t in pool}
        if any(v is not None for v in measured.values()):
            # The most unlike; of equals, the better score (the earlier in ``pool``).
            unlike = max(pool, key=lambda t: (-1.0 if measured[t] is None else measured[t],
                                              -pool.index(t)))
            pool.remove(unlike)
            chosen.append(Finalist(unlike, first[unlike], "unlike", measured[unlike]))
            continue
        trial = pool.pop(0) if pool else next(rest, None)
        if trial is None:
            break
        chosen.append(Finalist(trial, first[trial], "score", measured.get(trial)))
    return chosen


def _unlike(signature: bytes | None, references: Sequence[bytes]) -> float | None:
    """The smallest disagreement of ``signature`` with any of ``references``."""
    if signature is None or not references:
        return None
    return min(disagreement(signature, r) for r in references)
