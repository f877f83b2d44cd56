"""The experiment folder's names: its files, a trial's files, the columns a trial reports.

The writer (``search.tune``: the driver, the trainable, the callbacks) and the readers
(:mod:`.records`, ``mnist_hpo.reports``) take them from here; docs/experiment-folder.md
describes each.
"""

from __future__ import annotations

#: In the experiment folder: how the search was asked for and how it ended.
MANIFEST = "search.json"
#: In the experiment folder: the Optuna study (Optuna's journal file storage).
JOURNAL = "optuna.journal"
#: In the experiment folder, with ``--time-budget``: the budget, the seconds left of it,
#: whether it ran out (JSON). Not named *.json: on resume Ray copies the experiment folder's
#: *.json and *.pkl into its staging folder and back over the originals at every sync,
#: which would put the interrupted run's copy back over this run's.
TIME_BUDGET_FILE = "time_budget"
#: In the experiment folder, under a planned end (asha-promotion with a time or epoch
#: budget): the plan's phase (breadth, then the finalists), the finalists and why, the time
#: budget's estimate, and each change of them (JSON). Not named *.json, as above.
PLAN_FILE = "plan"

#: A trial's folders, ``trial_0001``..., numbered in the order the trials started.
TRIAL_PREFIX = "trial_"
#: In a trial's folder, as Ray Tune writes them: its configuration, a row per reported
#: epoch (CSV, and a JSON object per line with the configuration), Ray's error log.
PARAMS = "params.json"
PROGRESS = "progress.csv"
RESULT = "result.json"
ERROR = "error.txt"
#: A trial checkpoint holds the model and, beside it, which epoch it is:
#: ``{"epoch": 3, "val_accuracy": 0.9881}`` (written by the trainable, read back here).
CHECKPOINT_MODEL = "model.keras"
CHECKPOINT_STATE = "state.json"
#: In a trial's folder: Ray ended the trial without a last ``done`` row, as it does for a
#: trial stopped while paused at a rung (``--scheduler asha-promotion``): it was stopped.
STOPPED_MARK = "stopped"

#: What a trial reports after each epoch (besides ``epoch`` and Ray's own columns).
EPOCH_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "seconds", "images_per_second")
#: What a trial reports at its first rung under a planned end: its predicted label of
#: every validation image, one digit each, in order (``"7210414..."``): the signature the
#: finalists are chosen unlike each other by (``search/policy/finalists.py``).
SIGNATURE_KEY = "val_predictions"
#: What a trial's model costs, measured on its worker after its first epoch: parameters,
#: ``.keras`` bytes, milliseconds per image at batch 1 and 256 (medians).
COST_KEYS = ("params", "file_bytes", "latency_ms_batch_1", "latency_ms_batch_256")
