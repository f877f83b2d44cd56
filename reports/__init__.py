"""Reading what a search did: trial records and the leaderboard.

Everything here works on the experiment folder alone, as plain trial records, without
TensorFlow or Ray.
"""

from __future__ import annotations

from reports.leaderboard import leaderboard_rows, render
from reports.records import (
    Experiment,
    ExperimentError,
    TrialRecord,
    TrialState,
    load_experiment,
)

__all__ = ["Experiment", "ExperimentError", "TrialRecord", "TrialState", "leaderboard_rows",
           "load_experiment", "render"]
