"""Finalists chosen for the ensemble (search/policy/finalists.py): the best first-rung score,
then among those as good, within noise, the one whose first-rung predictions are most
unlike those already picked, the kept warm starts counted as picked. Without predictions:
the score order, the choice of before."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_hpo.search.policy import Policy, PolicySettings, Snapshot, TrialState, TrialView
from mnist_hpo.search.policy.finalists import disagreement, margin, pick
from mnist_hpo.search.policy.plan import EndPlan

W, E, T = TrialState.PAUSED, TrialState.ENDED, TrialState.TRAINING
IMAGES = 1000


def labels(seed: int, differ: float, base: int = 0) -> np.ndarray:
    """1,000 predicted labels: those of ``base`` with a share ``differ`` changed."""
    rng = np.random.default_rng(base)
    out = rng.integers(0, 10, IMAGES).astype(np.uint8)
    changed = np.random.default_rng(seed).choice(IMAGES, int(differ * IMAGES), replace=False)
    out[changed] = (out[changed] + 1) % 10
    return out


def signature(seed: int, differ: float) -> bytes:
    return (labels(seed, differ) + ord("0")).tobytes()


def test_disagreement_is_the_share_of_images_labelled_differently() -> None:
    rng = np.random.default_rng(1)
    for share in np.linspace(0, 1, 21):
        a = rng.integers(0, 10, 777).astype(np.uint8)
        b = a.copy()
        mask = rng.random(777) < share
        b[mask] = rng.integers(0, 10, int(mask.sum()))
        expected = float(np.mean(a != b))
        assert disagreement(a.tobytes(), b.tobytes()) == pytest.approx(expected)
    assert disagreement(b"0123", b"0123") == 0.0
    assert disagreement(b"", b"") == 0.0


def test_the_margin_is_two_standard_errors_of_a_difference_of_accuracies() -> None:
    # On 5,000 images near 0.98: 2 × sqrt(2 × 0.98 × 0.02 / 5,002) = 0.0056.
    assert margin(0.98, 5000) == pytest.approx(0.0056, abs=1e-4)
    assert margin(0.90, 1000) == pytest.approx(0.0268, abs=1e-3)


RANKED = ["t3", "t4", "t5", "t6", "t7"]
FIRST = {"t3": 0.950, "t4": 0.948, "t5": 0.945, "t6": 0.940, "t7": 0.800}


def test_without_signatures_the_choice_is_the_score_order() -> None:
    chosen = pick(RANKED, FIRST, slots=3, signatures={})
    assert [f.id for f in chosen] == ["t3", "t4", "t5"]
    assert [f.reason for f in chosen] == ["best", "score", "score"]


def test_the_next_finalist_is_the_most_unlike_within_noise_of_the_best() -> None:
    # t4 predicts almost as t3 does; t5 and t6 differ more; t7 most, but it is far below
    # the best (the margin on 1,000 images near 0.95 is 0.019): never in the pool.
    signatures = {"t3": signature(3, 0.0), "t4": signature(4, 0.01),
                  "t5": signature(5, 0.05), "t6": signature(6, 0.03),
                  "t7": signature(7, 0.30)}
    chosen = pick(RANKED, FIRST, slots=2, signatures=signatures)
    assert [f.id for f in chosen] == ["t3", "t5"]
    assert chosen[1].reason == "unlike"
    assert chosen[1].unlike == pytest.approx(disagreement(signatures["t5"], signatures["t3"]))
    # Three slots: the pool is the best 2 × 3 within noise (t4, t5, t6); after t5, t6 is
    # the most unlike both t3 and t5 (its smallest disagreement is the largest).
    assert [f.id for f in pick(RANKED, FIRST, 3, signatures)] == ["t3", "t5", "t6"]


def test_the_kept_warm_starts_count_as_already_picked() -> None:
    # Alone, t5 would be picked second (test above); but it predicts as the seed network
    # does, which the ensemble has anyway: t6 is unlike both t3 and the seed.
    signatures = {"t3": signature(3, 0.0), "t4": signature(4, 0.01),
                  "t5": signature(5, 0.05), "t6": signature(6, 0.03)}
    seed = signatures["t5"]
    chosen = pick(RANKED, FIRST, slots=2, signatures=signatures, picked_before=[seed])
    assert [f.id for f in chosen] == ["t3", "t6"]


def test_a_pool_smaller_than_the_slots_is_filled_by_score() -> None:
    signatures = {"t3": signature(3, 0.0), "t6": signature(6, 0.03)}
    first = {"t3": 0.95, "t4": 0.90, "t5": 0.89, "t6": 0.949}
    chosen = pick(["t3", "t6", "t4", "t5"], first, slots=3, signatures=signatures)
    assert [(f.id, f.reason) for f in chosen] == [("t3", "best"), ("t6", "unlike"),
                                                  ("t4", "score")]


def view(trial: str, state: TrialState, *scores: float, sig: bytes | None = None,
         kept: bool = False) -> TrialView:
    return TrialView(trial, int(trial[1:]), state, len(scores), scores, {}, kept,
                     signature=sig)


def test_the_policy_resumes_the_finalists_in_the_order_picked() -> None:
    """An epoch budget at its end: the finalists are t3 and the unlike t5, not t4."""
    policy = Policy(PolicySettings(max_t=5, epoch_budget=12))
    views = (view("t1", E, *[0.9] * 5, sig=signature(1, 0.2), kept=True),
             view("t3", W, 0.950, sig=signature(3, 0.0)),
             view("t4", W, 0.948, sig=signature(4, 0.01)),
             view("t5", W, 0.945, sig=signature(5, 0.05)))
    for v in views:
        policy.restored(v)
    snapshot = Snapshot(views)
    assert policy.choose(snapshot).resume == "t3"
    staged = Snapshot((*views[:1], view("t3", T, 0.950, sig=signature(3, 0.0)), *views[2:]))
    assert policy.choose(staged).resume == "t5"
    report = policy.plan(staged)
    assert report is not None and report.phase == "finalists"
    assert [(f.id, f.reason) for f in report.finalists] == [("t3", "best"), ("t5", "unlike")]


def test_a_kept_warm_start_still_training_takes_a_slot() -> None:
    plan = EndPlan(budget=20, reserve=8, finalists=2)
    seed = view("t1", T, 0.9, sig=signature(1, 0.0), kept=True)
    waiting = (view("t3", W, 0.95, sig=signature(3, 0.0)),
               view("t4", W, 0.94, sig=signature(4, 0.3)))
    chosen = plan.chosen(Snapshot((seed, *waiting)), {"t3": 0.95, "t4": 0.94})
    assert [f.id for f in chosen] == ["t3"]
