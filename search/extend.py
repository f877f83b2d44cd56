"""``mnist-hpo extend``: more trials for a finished search, learning from every earlier one.

Ray Tune cannot change a restored experiment's search, so an extension is a new Ray Tune
run in the same experiment folder: its trials are numbered after the existing ones, and its
Optuna study (in the same journal) starts with every earlier trial told as it ended:
COMPLETE with its best score, PRUNED with its per-epoch scores if ASHA stopped it, FAIL if it
errored. The space may be narrowed; an earlier trial outside it is left out of the study.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import optuna

from reports import TrialRecord, load_experiment
from reports.optuna_trials import to_optuna_trial
from reports.status import SearchStatus
from search.data import recorded_split
from search.driver import SearchOutcome, run_tuner, trainable
from search.errors import UsageError
from search.honest_search import open_journal
from search.manifest import read_manifest, settings_from_manifest
from search.progress import TrialPrinter
from search.settings import MODE
from search.wiring import JOURNAL, Extension
from spaces import Space, load_space

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
    extension = Extension(study_name=study_name, trials=trials, offset=offset)

    def tuner() -> Any:
        from ray import tune

        from search.wiring import make_run_config, make_tune_config

        printer = TrialPrinter(settings.epochs, new_space.searched, offset=offset)
        return tune.Tuner(trainable(settings, split),
                          tune_config=make_tune_config(settings, experiment,
                                                       extension=extension),
                          run_config=make_run_config(settings, str(experiment.parent),
                                                     [printer]))

    return run_tuner(settings, tuner, manifest, experiment, str(experiment))


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
        value = t.params[key]
        new = space.domains[key].to_optuna()
        if _holds(new, value):
            out[key] = new
            continue
        # A narrowed numeric range: Optuna accepts the old range for the old trial.
        old = old_space.domains[key].to_optuna() if key in old_space.domains else None
        if (old is None or isinstance(new, optuna.distributions.CategoricalDistribution)
                or type(old) is not type(new) or not _holds(old, value)):
            return None
        out[key] = old
    return out


def _holds(distribution: Any, value: Any) -> bool:
    try:
        return bool(distribution._contains(distribution.to_internal_repr(value)))
    except (ValueError, TypeError):
        return False
