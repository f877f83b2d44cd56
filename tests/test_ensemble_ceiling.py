"""benchmarks/ensemble_ceiling.py's scoring of member subsets: what a rule picking on the
validation images gets, against the ceiling picked on the test set."""

from __future__ import annotations

import numpy as np

from benchmarks.ensemble_ceiling import by_validation, ceiling, subsets


def one_hot(classes: list[int]) -> np.ndarray:
    return np.eye(10)[classes]


def test_the_ceiling_is_picked_on_the_test_set_and_validation_may_miss_it() -> None:
    y_val, y_test = np.array([0, 1, 2]), np.array([0, 1, 2, 3])
    # Candidate 0 is right on every validation image and on half the test images;
    # candidates 1 and 2 each miss one validation image and one test image, confidently
    # right where the other is unsure, so that their average is right on all four.
    val = [one_hot([0, 1, 2]), one_hot([0, 1, 9]), one_hot([0, 9, 2])]
    test = [one_hot([0, 9, 9, 3]),
            np.array([one_hot([0])[0], 0.9 * one_hot([1])[0] + 0.1 * one_hot([9])[0],
                      0.6 * one_hot([9])[0] + 0.4 * one_hot([2])[0], one_hot([3])[0]]),
            np.array([one_hot([0])[0], 0.6 * one_hot([9])[0] + 0.4 * one_hot([1])[0],
                      0.9 * one_hot([2])[0] + 0.1 * one_hot([9])[0], one_hot([3])[0]])]
    rows = subsets(val, test, y_val, y_test, max_members=2)
    assert [r["members"] for r in rows] == [[0], [1], [2], [0, 1], [0, 2], [1, 2]]
    assert [r["test_accuracy"] for r in rows[:3]] == [0.5, 0.75, 0.75]
    assert rows[5]["test_accuracy"] == 1.0
    picked = by_validation(rows)
    assert picked["members"] == [0]  # 3 of 3 alone: a pair can only tie, with more members
    assert picked["test_accuracy"] == 0.5
    assert ceiling(rows)["members"] == [1, 2]


def test_subsets_stop_at_the_candidates_there_are() -> None:
    probs = [one_hot([1]), one_hot([1])]
    rows = subsets(probs, probs, np.array([1]), np.array([1]), max_members=5)
    assert [r["members"] for r in rows] == [[0], [1], [0, 1]]
