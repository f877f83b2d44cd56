"""Greedy ensemble selection (Caruana et al., ICML 2004) on validation predictions.

Plain NumPy on the members' predicted probabilities: no TensorFlow, and the test set is
never looked at. Starting from the best single model, each round adds (with replacement)
the candidate whose addition scores best; a member's weight is the share of rounds that
picked it. The ensemble kept is the best prefix of the rounds, so it is never worse on the
validation images than its best member: the first round's pick alone is a prefix.

Each round picks by accuracy first and log loss second: accuracy is what is ranked, and on
10,000 images many additions tie on it; log loss tells those apart. The prefix kept is the
most accurate one and, among equally accurate ones, the one with the fewest distinct
members (then the lowest log loss): a member that lowers the log loss without changing a
single prediction is not worth its inference cost.

The export does not ship this selection as it is: ``reports.ensemble_pruning`` first limits
the candidates to trials within noise of the best, then drops the members whose
contribution the validation images cannot tell from noise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: ``--ensemble auto``: at most this many distinct members, chosen in at most
#: ``MAX_ROUNDS`` rounds.
AUTO_MEMBERS = 10
MAX_ROUNDS = 50


@dataclass(frozen=True)
class Score:
    """An ensemble's accuracy and mean log loss on the validation images."""

    accuracy: float
    log_loss: float

    def key(self) -> tuple[float, float]:
        return (self.accuracy, -self.log_loss)


@dataclass(frozen=True)
class Selection:
    """The chosen ensemble.

    Attributes:
        weights: Candidate index → weight (share of the kept rounds that picked it),
            in the order the members were first picked.
        rounds: Candidate picked in each kept round.
        scores: Validation score after each round, kept or not.
    """

    weights: dict[int, float]
    rounds: list[int]
    scores: list[Score]

    @property
    def score(self) -> Score:
        return self.scores[len(self.rounds) - 1]


def score(probs: np.ndarray, labels: np.ndarray) -> Score:
    """Accuracy and mean log loss of predicted probabilities ``probs`` (N × 10)."""
    picked = np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0)
    return Score(float(np.mean(probs.argmax(axis=1) == labels)),
                 float(-np.mean(np.log(picked))))


def greedy_selection(probs: Sequence[np.ndarray], labels: np.ndarray, *,
                     max_members: int, max_rounds: int = MAX_ROUNDS) -> Selection:
    """Select an ensemble of at most ``max_members`` distinct candidates.

    Args:
        probs: Each candidate's validation probabilities (N × 10), best candidate first
            or not: the first round picks the best alone.
        labels: The validation labels.
        max_members: Distinct members allowed; once reached, rounds re-pick members only.
        max_rounds: Rounds to run; the best prefix is kept (see the module docstring).
    """
    if len(probs) < 1 or max_members < 1:
        raise ValueError("greedy_selection needs a candidate and max_members >= 1")
    total = np.zeros_like(probs[0], dtype=np.float64)
    rounds: list[int] = []
    scores: list[Score] = []
    for r in range(1, max_rounds + 1):
        allowed = (range(len(probs)) if len(set(rounds)) < max_members
                   else sorted(set(rounds)))
        tried = {c: score((total + probs[c]) / r, labels) for c in allowed}
        # max() keeps the first of equal keys: the earlier (better-ranked) candidate.
        pick = max(tried, key=lambda c: tried[c].key())
        total += probs[pick]
        rounds.append(pick)
        scores.append(tried[pick])
    def kept_key(i: int) -> tuple[float, int, float, int]:
        return (scores[i].accuracy, -len(set(rounds[:i + 1])), -scores[i].log_loss, -i)

    best = max(range(len(scores)), key=kept_key)
    kept = rounds[:best + 1]
    counts = Counter(kept)
    weights = {c: counts[c] / len(kept) for c in dict.fromkeys(kept)}
    return Selection(weights=weights, rounds=kept, scores=scores)


def combine(probs: Sequence[np.ndarray], weights: dict[int, float]) -> np.ndarray:
    """The weighted average of the chosen candidates' probabilities."""
    return sum((w * probs[c].astype(np.float64) for c, w in weights.items()),
               start=np.zeros_like(probs[0], dtype=np.float64))
