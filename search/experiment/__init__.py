"""The experiment folder's format, in one place: what a search writes and every reader reads.

- :mod:`.names`: the folder's files, a trial's files, the columns a trial reports.
- :mod:`.status`: ``search.json``'s ``status`` (:class:`SearchStatus`).
- :mod:`.trial_files`: one trial folder's files as Ray Tune writes them.
- :mod:`.records`: a folder read as plain records (:class:`TrialRecord`, :class:`TrialState`,
  :func:`load_experiment`), and ``search.json`` (:func:`read_manifest`).
- :mod:`.optuna_trials`: a record as the Optuna trial it ended as (the one module here that
  imports Optuna; not imported by this package).

The writer (``mnist_hpo.search.tune``) and the readers (``mnist_hpo.reports``, which
re-exports the records for its users) both import this; nothing here imports Ray,
TensorFlow, ``search.tune``, ``search.cli`` or ``reports`` (import-linter contracts in
pyproject.toml), so the format is read anywhere, without them.
"""

from mnist_hpo.search.experiment.records import (
    Experiment,
    ExperimentError,
    TrialRecord,
    TrialState,
    load_experiment,
    read_manifest,
    tally,
    tally_text,
)
from mnist_hpo.search.experiment.status import SearchStatus

__all__ = ["Experiment", "ExperimentError", "SearchStatus", "TrialRecord", "TrialState",
           "load_experiment", "read_manifest", "tally", "tally_text"]
