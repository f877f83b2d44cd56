"""Greedy ensemble selection and its pruning on validation predictions (NumPy only)."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_hpo.reports.ensemble import (
    AUTO_MEMBERS,
    Score,
    Selection,
    combine,
    greedy_selection,
    score,
)
from mnist_hpo.reports.ensemble_pruning import (
    NOISE_Z,
    Pruned,
    Row,
    contribution,
    curve,
    eligibility_threshold,
    eligible,
    pick,
    prune,
)
from mnist_hpo.reports.ensemble_summary import curve_rows, summary_lines


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


# --- Pruning (reports.ensemble_pruning): eligibility, backward elimination, the curve ---

def probs_for(labels: np.ndarray, rows: dict[int, dict[int, float]], base: float = 0.9
              ) -> np.ndarray:
    """Confidently right (``base`` on the label) except on the images in ``rows``: image →
    {class: probability}, the rest of the mass spread over the other classes."""
    probs = one_hot(labels, base)
    for image, masses in rows.items():
        rest = (1 - sum(masses.values())) / (10 - len(masses))
        probs[image] = rest
        for cls, p in masses.items():
            probs[image, cls] = p
    return probs


def test_eligibility_on_the_issues_numbers() -> None:
    # 5,000 validation images: 2 standard errors below a best of 0.985 is 0.49 points.
    floor = eligibility_threshold(0.985, 5000)
    assert floor == pytest.approx(0.985 - 0.0049, abs=2e-4)
    assert eligible([0.985, 0.983, 0.92, 0.62], 5000) == [0, 1]
    assert eligibility_threshold(0.99, 50_000) > eligibility_threshold(0.99, 5000)
    assert eligibility_threshold(1.0, 1000) < 1.0  # a perfect best still leaves a margin
    assert eligible([], 100) == []


def test_a_far_below_best_trial_is_never_a_candidate() -> None:
    """A weak model right exactly where the good ones err would be picked by greedy
    selection; eligibility keeps it out before selection sees it."""
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 10, 5000)
    shared = np.arange(120)  # both good models' near-miss errors
    near_miss = {i: {int((labels[i] + 1) % 10): 0.5, int(labels[i]): 0.4} for i in shared}
    good, also_good = probs_for(labels, near_miss), probs_for(labels, near_miss, base=0.8)
    weak_pred = labels.copy()
    weak_pred[3000:] = (labels[3000:] + 2) % 10  # right on 60 %, the shared errors among them
    weak = one_hot(weak_pred, 0.3)
    weak[shared] = one_hot(labels[shared], 0.99)
    models = [good, also_good, weak]
    accuracies = [score(p, labels).accuracy for p in models]
    assert 2 in greedy_selection(models, labels, max_members=3).weights  # it would help
    assert eligible(accuracies, len(labels)) == [0, 1]


def twin_of(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The best model, and a twin that fixes 3 of its near-ties, breaks 1 and errs alone on
    5 images where the best is sure: alone it is worse, averaged in it gains 2 images net,
    no more than noise (z = 2 / √4 = 1)."""
    def y(i: int) -> int:
        return int(labels[i])

    def x(i: int) -> int:
        return int((labels[i] + 1) % 10)

    best = probs_for(labels, {**{i: {x(i): 0.45, y(i): 0.40} for i in range(3)},
                              3: {y(3): 0.45, x(3): 0.40}})
    twin = probs_for(labels, {**{i: {y(i): 0.60, x(i): 0.30} for i in range(3)},
                              3: {x(3): 0.80, y(3): 0.10},
                              **{i: {x(i): 0.50, y(i): 0.30} for i in range(10, 15)}})
    return best, twin


def test_a_noise_level_member_is_dropped() -> None:
    labels = np.arange(2000) % 10
    best, twin = twin_of(labels)
    selection = greedy_selection([best, twin], labels, max_members=2)
    assert list(selection.weights) == [0, 1]  # greedy keeps it: +2 images on validation
    pruned = prune([best, twin], labels, selection.weights)
    assert pruned.weights == {0: 1.0}
    (dropped,) = pruned.dropped
    assert (dropped.member, dropped.gained, dropped.lost) == (1, 3, 1)
    assert dropped.z == pytest.approx(1.0) and not dropped.useful


def test_a_weight_too_small_to_change_a_vote_goes() -> None:
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 10, 1000)
    best = noisy_model(labels, 0.1, rng)
    other = noisy_model(labels, 0.1, rng)
    pruned = prune([best, other], labels, {0: 0.999, 1: 0.001})
    assert pruned.weights == {0: 1.0}
    assert [(c.gained, c.lost) for c in pruned.dropped] == [(0, 0)]


def test_useful_members_stay() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 2000)
    models = [noisy_model(labels, 0.2, rng) for _ in range(5)]
    selection = greedy_selection(models, labels, max_members=5)
    pruned = prune(models, labels, selection.weights)
    assert len(pruned.weights) >= 3 and not pruned.dropped
    assert pruned.against_best is not None and pruned.against_best.useful
    assert sum(pruned.weights.values()) == pytest.approx(1.0)
    # Each kept member, removed by hand, costs at least 2 standard errors of the images
    # that change.
    full = combine(models, pruned.weights)
    for member in list(pruned.weights)[1:]:
        rest = {m: w for m, w in pruned.weights.items() if m != member}
        c = contribution(member, full, combine(models, rest), labels)
        assert c.gained - c.lost >= NOISE_Z * np.sqrt(c.gained + c.lost) > 0


def test_the_whole_must_beat_the_best_alone() -> None:
    """Two members that each undo the other's damage: each is 'useful' against the other,
    together they change nothing the best trial gets right alone."""
    labels = np.arange(1000) % 10

    def x(i: int) -> int:
        return int((labels[i] + 1) % 10)

    shaky = {i: {int(labels[i]): 0.40, x(i): 0.35} for i in range(40)}
    a = probs_for(labels, shaky)
    b = probs_for(labels, {**{i: {x(i): 0.9} for i in range(20)},
                           **{i: {int(labels[i]): 0.9} for i in range(20, 40)}})
    c = probs_for(labels, {**{i: {int(labels[i]): 0.9} for i in range(20)},
                           **{i: {x(i): 0.9} for i in range(20, 40)}})
    pruned = prune([a, b, c], labels, {0: 1 / 3, 1: 1 / 3, 2: 1 / 3})
    assert not pruned.dropped  # each member alone is worth 20 images against the other
    assert pruned.against_best is not None
    assert (pruned.against_best.gained, pruned.against_best.lost) == (0, 0)
    assert pruned.weights == {0: 1.0}


def test_the_curve_is_what_ensemble_k_exports() -> None:
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 10, 1500)
    models = [noisy_model(labels, rng.uniform(0.15, 0.3), rng) for _ in range(7)]
    rows = curve(models, labels)
    widest = greedy_selection(models, labels, max_members=AUTO_MEMBERS)
    assert [r.cap for r in rows] == list(range(1, len(widest.weights) + 1))
    assert rows[-1].greedy == widest
    best_alone = score(models[widest.rounds[0]], labels)
    for row in rows:
        if row.cap < len(rows):  # row K is today's --ensemble K before pruning
            assert row.greedy == greedy_selection(models, labels, max_members=row.cap)
        assert len(row.greedy.weights) <= row.cap
        kept = row.pruned.weights
        assert next(iter(kept)) == widest.rounds[0]  # the best trial always stays
        assert set(kept) <= set(row.greedy.weights)
        assert sum(kept.values()) == pytest.approx(1.0)
        # What holds at every K: neither the greedy nor the pruned ensemble is below the
        # best trial alone on the validation images.
        assert row.greedy.score.key() >= best_alone.key()
        assert row.pruned.score.accuracy >= best_alone.accuracy
    assert rows[0].pruned.weights == {widest.rounds[0]: 1.0}
    # --ensemble K exports the most accurate pruned ensemble of rows 1 to K, so what it
    # exports never gets worse as K grows; auto is the best of all rows.
    exported = [pick(rows, k) for k in range(1, len(rows) + 2)]
    assert exported[0] is rows[0] and pick(rows, None) is exported[-1]
    for k, row in enumerate(exported, start=1):
        assert row.cap <= k
        assert row.pruned.score.accuracy == max(r.pruned.score.accuracy for r in rows[:k])
    accuracies = [r.pruned.score.accuracy for r in exported]
    assert accuracies == sorted(accuracies)


def test_pick_prefers_a_narrower_row_that_prunes_better() -> None:
    """Pruning a wide selection can end smaller than pruning a narrower one: the export
    takes the better pruned row (seen on a real search, where K = 4 pruned to the best
    trial alone and K = 3 kept three useful members)."""
    def row(cap: int, accuracy: float, members: int) -> Row:
        weights = {m: 1 / members for m in range(members)}
        kept = Pruned(weights, Score(accuracy, 0.1), [], None)
        return Row(cap, Selection(weights, list(weights), [Score(accuracy, 0.1)]), kept)

    rows = [row(1, 0.9884, 1), row(2, 0.9884, 1), row(3, 0.9906, 3), row(4, 0.9884, 1)]
    assert pick(rows, None) is rows[2] and pick(rows, 2) is rows[0]
    rows[3] = row(4, 0.9906, 2)  # as accurate with fewer members
    assert pick(rows, None) is rows[3]


def test_the_curve_as_recorded_and_printed() -> None:
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 10, 1500)
    models = [noisy_model(labels, 0.2, rng) for _ in range(4)]
    rows = curve(models, labels)
    costs = [{"params": 1000.0, "latency_ms_batch_1": 0.5}] * 3 + [{}]  # one unmeasured
    chosen = pick(rows, 2)
    entries = curve_rows(rows, [(10 + i, c) for i, c in enumerate(costs)], chosen)
    assert [e["exported"] for e in entries] == [r is chosen for r in rows]
    for entry, row in zip(entries, rows, strict=True):
        kept = entry["pruned"]
        assert kept["trials"] == [10 + i for i in row.pruned.weights]
        assert kept["val_accuracy"] == row.pruned.score.accuracy
        measured = all(costs[i] for i in row.pruned.weights)
        assert kept["params"] == (1000 * len(kept["trials"]) if measured else None)
    sel = {"row": chosen.cap, "noise_z": 2.0, "validation_images": 1500, "eligible": 4,
           "eligible_from": 0.79, "not_eligible": 1, "candidates": 4, "greedy_members": 2,
           "pruned_members": 2,
           "dropped": [{"trial": 12, "gained": 3, "lost": 1, "z": 1.0, "useful": False}],
           "against_best": None}
    member = {"trial": 10, "epoch": 3, "weight": 1.0, "val_accuracy": 0.8,
              "test_accuracy": 0.79}
    cost = {"params": 1, "file_bytes": 1e6, "latency_ms_batch_1": 1.0,
            "latency_ms_batch_256": 0.1}
    side = {"members": 1, "trial": 10, "val_accuracy": 0.8, "test_accuracy": 0.79,
            "cost": cost}
    lines = summary_lines({"ensemble": side, "best_single": side, "selection": sel,
                           "curve": entries, "members": [member], "reload_max_difference": 0,
                           "test_images": 10_000}, "OUT", "images")
    text = "\n".join(lines)
    assert "Dropped: trial 12 (+3 -1 images, z 1.00)." in text
    assert "Validation accuracy by K (* exported)" in text
    marked = [ln for ln in lines if ln.startswith("*")]
    assert len(marked) == 1 and marked[0].split()[1] == str(chosen.cap)
