"""Greedy ensemble selection on validation predictions (NumPy only)."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_hpo.reports.ensemble import combine, greedy_selection, score


def one_hot(labels: np.ndarray, confidence: float = 0.9) -> np.ndarray:
    probs = np.full((len(labels), 10), (1 - confidence) / 9)
    probs[np.arange(len(labels)), labels] = confidence
    return probs


def noisy_model(labels: np.ndarray, error: float, rng: np.random.Generator) -> np.ndarray:
    """Predictions right on a (1 - error) share of the images, each model on its own."""
    predicted = labels.copy()
    wrong = rng.random(len(labels)) < error
    predicted[wrong] = (labels[wrong] + rng.integers(1, 10, wrong.sum())) % 10
    return one_hot(predicted, confidence=rng.uniform(0.5, 0.9))


def test_independent_errors_average_out() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 2000)
    models = [noisy_model(labels, 0.2, rng) for _ in range(6)]
    selection = greedy_selection(models, labels, max_members=6)
    best_single = max(score(p, labels).accuracy for p in models)
    ensemble = score(combine(models, selection.weights), labels)
    assert ensemble.accuracy > best_single + 0.05  # five models' votes beat any one
    assert len(selection.weights) >= 3
    assert sum(selection.weights.values()) == pytest.approx(1.0)
    assert ensemble.accuracy == selection.score.accuracy
    assert ensemble.log_loss == pytest.approx(selection.score.log_loss)


@pytest.mark.parametrize("seed", range(5))
def test_never_worse_than_the_best_member_on_validation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, 500)
    # One good model and poor ones whose errors agree: adding them can only hurt.
    good = noisy_model(labels, 0.05, rng)
    shared = noisy_model(labels, 0.6, rng)
    models = [shared * rng.uniform(0.9, 1.0) for _ in range(3)] + [good]
    selection = greedy_selection(models, labels, max_members=4)
    assert selection.score.key() >= score(good, labels).key()
    assert selection.rounds[0] == 3  # the best alone comes first


def test_member_cap_and_replacement() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 1000)
    models = [noisy_model(labels, 0.25, rng) for _ in range(8)]
    selection = greedy_selection(models, labels, max_members=2, max_rounds=10)
    assert len(selection.weights) <= 2
    assert set(selection.rounds) == set(selection.weights)
    for member, weight in selection.weights.items():
        assert weight == pytest.approx(selection.rounds.count(member) / len(selection.rounds))


def test_needs_a_candidate() -> None:
    with pytest.raises(ValueError, match="needs a candidate"):
        greedy_selection([], np.zeros(3, int), max_members=2)


def test_equal_accuracy_keeps_fewer_members() -> None:
    """A second model that agrees with the first on every prediction but is more confident
    lowers the log loss and changes nothing else: the single model is kept."""
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9] * 20)
    predicted = labels.copy()
    predicted[:10] = (labels[:10] + 1) % 10  # 10 mistakes, made by both
    timid, bold = one_hot(predicted, 0.5), one_hot(predicted, 0.95)
    selection = greedy_selection([timid, bold], labels, max_members=2)
    assert len(selection.weights) == 1
