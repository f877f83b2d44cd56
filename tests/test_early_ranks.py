"""benchmarks/early_ranks.py's arithmetic: the rank correlation and its summary."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.early_ranks import reusable, spearman, summarize


def test_spearman_on_known_values() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # Worked by hand: ranks (1, 2, 3, 4) against (1, 3, 2, 4), d² = 0+1+1+0 = 2,
    # rho = 1 - 6·2 / (4·15) = 0.8.
    assert spearman([0.1, 0.3, 0.5, 0.9], [1, 3, 2, 4]) == pytest.approx(0.8)
    # Ties take their mean rank: (1.5, 1.5, 3) against (1, 2, 3) is Pearson's r of those.
    assert spearman([0.1, 0.1, 0.9], [1, 2, 3]) == pytest.approx(math.sqrt(3) / 2)
    assert math.isnan(spearman([0.1, 0.1, 0.1], [1, 2, 3]))  # no ranking to compare


def test_summary_judges_early_scores_against_the_recalibrated_final() -> None:
    def run(bn: bool, before: list[float], after: list[float]) -> dict[str, object]:
        return {"config": {"batch_norm": bn}, "before": before, "after": after}

    runs = [run(True, [0.10, 0.90], [0.95, 0.99]), run(True, [0.10, 0.96], [0.90, 0.97]),
            run(False, [0.80, 0.95], [0.80, 0.95]), run(False, [0.70, 0.90], [0.70, 0.90]),
            run(True, [0.10], [0.60])]  # diverged in epoch 2: scores 0 from there
    table = summarize(runs, epochs=2)  # type: ignore[arg-type]
    # Final (after, epoch 2): 0.99, 0.97, 0.95, 0.90, 0.0.
    assert table["all"]["epoch_1"]["after"] == pytest.approx(1.0)
    assert table["all"]["epoch_1"]["before"] < 0.5
    assert table["batch_norm"]["configs"] == 3 and "no_batch_norm" not in table
    # Batch-norm runs (0, 1, 4) ranked from the worst: final 5, 4, 1; epoch 1 before 2, 2, 2
    # (three ties at 0.10 share ranks 1-3), after 5, 4, 1.
    shift = table["rank_shift"]["batch_norm"]
    assert shift == {"configs": 3, "before": pytest.approx(4 / 3), "after": 0.0}
    # The final best (run 0) is outside the epoch-1 top half before, inside after.
    assert table["kept_by_first_rung"] == {"final_top": 1, "before": 0.0, "after": 1.0}


def test_a_rerun_keeps_saved_runs_only_of_the_configurations_drawn_now() -> None:
    settings = {"space": "default", "seed": 0, "configs": 3, "epochs": 9}
    runs = [{"config": {"lr": lr}, "after": [0.9]} for lr in (1, 2, 3)]
    saved = {"settings": settings, "runs": runs}
    drawn = [{"lr": 1}, {"lr": 2}, {"lr": 3}, {"lr": 4}]
    assert reusable(saved, settings | {"configs": 4}, drawn) == runs  # longer: all kept
    assert reusable(saved, settings | {"configs": 2}, drawn[:2]) == runs[:2]
    edited = [{"lr": 1}, {"lr": 5}, {"lr": 3}]  # the space changed: draw 2 differs
    assert reusable(saved, settings, edited) == runs[:1]
    assert reusable(saved, settings | {"epochs": 4}, drawn) == []  # another scale
