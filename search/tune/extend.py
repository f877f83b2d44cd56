"""``mnist-hpo extend``: more trials for a finished search, learning from every earlier one.

Ray Tune cannot change a restored experiment's search, so an extension is a new Ray Tune
run in the same experiment folder: its trials are numbered after the existing ones, and its
Optuna study (in the same journal) starts with every earlier trial told as it ended:
COMPLETE with its best score, PRUNED with its per-epoch scores if ASHA stopped it, FAIL if it
errored. The space may be narrowed; an earlier trial outside it is left out of the study.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from pathlib import Path
from typing import Any

import optuna

from mnist_hpo.search.errors import UsageError
from mnist_hpo.search.experiment import (
    SearchStatus,
    TrialRecord,
    load_experiment,
    read_manifest,
)
from mnist_hpo.search.experiment.names import JOURNAL
from mnist_hpo.search.experiment.optuna_trials import to_optuna_trial
from mnist_hpo.search.training.data import recorded_split
from mnist_hpo.search.training.runtime import follow_recorded_kernels
from mnist_hpo.search.tune.callbacks import TrialPrinter, trial_number
from mnist_hpo.search.tune.driver import new_tuner, run_tuner
from mnist_hpo.search.tune.factories import Extension
from mnist_hpo.search.tune.journal import open_journal
from mnist_hpo.search.tune.manifest import STATE_FORMAT, settings_from_manifest
from mnist_hpo.search.tune.outcome import SearchOutcome
from mnist_hpo.search.tune.progress import Display, Progress, ProgressCallback
from mnist_hpo.search.tune.settings import MODE
from mnist_hpo.spaces import Choice, Space, load_space

log = logging.getLogger(__name__)


def extend_search(path: str | Path, trials: int, space: str | None = None,
                  data: str | None = None) -> SearchOutcome:
    """Run ``trials`` more trials in the experiment at ``path`` (see the module docstring).

    Raises:
        UsageError: not an experiment, or one that is still running or was interrupted
            (resume it first).
    """
    experiment = Path(path).expanduser().resolve()
    manifest = read_manifest(experiment)
    status = SearchStatus.of(manifest)
    if status in (SearchStatus.RUNNING, SearchStatus.INTERRUPTED):
        raise UsageError(f"{experiment}: the search is {status.value}; finish it "
                         f"with `mnist-hpo resume {experiment}` before extending it")
    before = settings_from_manifest(manifest, storage=str(experiment.parent))
    # New trials train with the kernels of the earlier ones (a user's value still wins).
    follow_recorded_kernels(manifest.get("tensorflow", {}))
    if before.goal.multi:
        raise UsageError(f"{experiment}: a Pareto search (--objective {before.objective}) "
                         f"cannot be extended yet; start a new search")
    new_space = load_space(space) if space else before.space
    records = load_experiment(experiment).trials
    offset = max((t.number for t in records), default=0)
    settings = dataclasses.replace(before, space=new_space, trials=before.trials + trials)
    split = recorded_split(manifest["data"], data)

    n = len(manifest.get("extensions", [])) + 1
    study_name = f"{settings.name}-extend-{n}"
    told, outside = tell_history(experiment / JOURNAL, study_name, records, new_space,
                                 before.space)
    print(f"Extending {experiment.name}: {trials} more trials after trial {offset}; the "
          f"sampler starts from {told} earlier trials"
          + (f" ({outside} lie outside the new space)" if outside else "") + ".", flush=True)
    manifest["budget"]["trials"] = settings.trials
    manifest["space"] = new_space.to_yaml_dict() | {"source": new_space.source}
    manifest["searched"] = list(dict.fromkeys([*manifest["searched"], *new_space.searched]))
    manifest["extensions"] = [*manifest.get("extensions", []), {
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "trials": trials, "after_trial": offset,
        "space": new_space.name, "optuna_study": study_name, "told": told,
        "outside_space": outside}]
    manifest["status"] = SearchStatus.RUNNING.value
    manifest["state_format"] = STATE_FORMAT  # the Ray state is this run's from here on
    extension = Extension(study_name=study_name, trials=trials, offset=offset)

    progress = Progress.of(settings, planned=trials, experiment=experiment)
    with Display(progress) as display:
        reporters = [ProgressCallback(progress, functools.partial(trial_number, offset=offset)),
                     TrialPrinter(settings.epochs, new_space.searched, write=display.write,
                                  offset=offset)]
        return run_tuner(settings, lambda: new_tuner(settings, split, experiment,
                                                     str(experiment.parent), reporters,
                                                     extension),
                         manifest, experiment, str(experiment))


def tell_history(journal: Path, study_name: str, records: list[TrialRecord], space: Space,
                 old_space: Space) -> tuple[int, int]:
    """Create ``study_name`` in the journal holding every ended trial of ``records``.

    Returns:
        (trials told, trials left out because a value lies outside the new space).
    """
    study = optuna.create_study(study_name=study_name, storage=open_journal(journal),
                                direction="maximize" if MODE == "max" else "minimize")
    told = outside = 0
    for t in (t for t in records if t.ended):
        distributions = _distributions(t, space, old_space)
        if distributions is None:
            outside += 1
            continue
        study.add_trial(to_optuna_trial(t, distributions))
        told += 1
    return told, outside


def _distributions(t: TrialRecord, space: Space, old_space: Space) -> dict[str, Any] | None:
    """Each searched parameter of the new space that the trial has, with a distribution
    that holds its value; ``None`` if a value cannot be placed in the new space."""
    out = {}
    for key in space.searched:
        if key not in t.params:
            continue  # inactive in that trial (filters_3 of a 2-block network)
        value, new = t.params[key], space.domains[key]
        if new.contains(value):
            out[key] = new.to_optuna()
            continue
        # A narrowed numeric range: Optuna accepts the old range for the old trial.
        old = old_space.domains.get(key)
        if (old is None or isinstance(new, Choice) or type(old) is not type(new)
                or not old.contains(value)):
            return None
        out[key] = old.to_optuna()
    return out
