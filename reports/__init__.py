"""Reading what a search did: leaderboard, figures, HTML report, export.

Everything here works on the experiment folder alone, as plain trial records read by
``mnist_hpo.search.experiment`` (the folder's format, re-exported here), without TensorFlow
or Ray; only ``export`` loads Keras, to reload and verify the model.
"""

from __future__ import annotations

from mnist_hpo.reports.leaderboard import leaderboard_rows, render
from mnist_hpo.search.experiment import (
    Experiment,
    ExperimentError,
    SearchStatus,
    TrialRecord,
    TrialState,
    load_experiment,
    tally,
    tally_text,
)

__all__ = ["Experiment", "ExperimentError", "SearchStatus", "TrialRecord", "TrialState",
           "leaderboard_rows", "load_experiment", "render", "tally", "tally_text"]
