"""An experiment another version wrote: one line and exit 2 from ``resume``, nothing read of
its state (no pickle shims), while its records still open. No Ray runtime, no training."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import run_cli

from mnist_hpo.search.errors import UsageError
from mnist_hpo.search.experiment.names import MANIFEST
from mnist_hpo.search.training.data import MnistData, Split
from mnist_hpo.search.tune.callbacks import TimeBudget
from mnist_hpo.search.tune.driver import resume_search
from mnist_hpo.search.tune.manifest import (
    STATE_FORMAT,
    build_manifest,
    check_state_format,
    settings_from_manifest,
)
from mnist_hpo.search.tune.settings import SearchSettings
from mnist_hpo.spaces import load_space


def manifest_of(**changes: Any) -> dict[str, Any]:
    """search.json as a search started by this version writes it (tiny fake data)."""
    images, labels = np.zeros((4, 28, 28), np.uint8), np.zeros(4, np.uint8)
    data = MnistData(images, labels, images, labels, source="x.npz", sha256="0" * 64)
    split = Split(images, labels, images, labels, images, labels)
    settings = SearchSettings(space=load_space("smoke"), name="old", epoch_budget=9,
                              max_failed_trials=2, objective="accuracy", max_params=10**6)
    manifest = json.loads(json.dumps(build_manifest(settings, data, split, "here", ["t"])))
    return manifest | {"status": "interrupted"} | changes


def experiment_of(tmp_path: Path, manifest: dict[str, Any]) -> Path:
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / MANIFEST).write_text(json.dumps(manifest))
    (folder / "tuner.pkl").write_bytes(pickle.dumps({"never": "read"}))
    return folder


def test_a_search_records_its_state_format_and_is_rebuilt_from_it() -> None:
    manifest = manifest_of()
    assert manifest["state_format"] == STATE_FORMAT
    check_state_format(manifest, Path("here"))  # this version's: no error
    settings = settings_from_manifest(manifest, storage="experiments")
    assert (settings.epoch_budget, settings.max_failed_trials, settings.max_params) == (
        9, 2, 10**6)


@pytest.mark.parametrize(("recorded", "said"), [(None, "none recorded"), (0, "format 0")])
def test_resume_refuses_another_versions_state_before_reading_it(
        tmp_path: Path, recorded: int | None, said: str) -> None:
    manifest = manifest_of(state_format=recorded)
    if recorded is None:
        del manifest["state_format"]
    folder = experiment_of(tmp_path, manifest)
    with pytest.raises(UsageError, match=rf"its Ray Tune state was written by another "
                                         rf"version of mnist-hpo \({said}; this version "
                                         rf"resumes format {STATE_FORMAT}\)"):
        resume_search(folder)


def test_the_finalists_are_recorded_and_a_resumed_search_plans_for_as_many() -> None:
    images, labels = np.zeros((4, 28, 28), np.uint8), np.zeros(4, np.uint8)
    data = MnistData(images, labels, images, labels, source="x.npz", sha256="0" * 64)
    split = Split(images, labels, images, labels, images, labels)
    asked = SearchSettings(space=load_space("smoke"), name="f", time_budget_s=600.0,
                           finalists=3)
    manifest = json.loads(json.dumps(build_manifest(asked, data, split, "here", ["t"])))
    assert manifest["budget"]["finalists"] == 3
    rebuilt = settings_from_manifest(manifest, storage="experiments")
    assert (rebuilt.finalists, rebuilt.time_budget_s, rebuilt.plans_end) == (3, 600.0, True)
    del manifest["budget"]["finalists"]  # written before --finalists existed
    with pytest.raises(UsageError, match=r"search.json has no 'finalists' field"):
        settings_from_manifest(manifest, storage="experiments")


def test_a_manifest_without_a_field_this_version_writes_is_one_line() -> None:
    manifest = manifest_of()
    del manifest["objective"]  # as before --objective existed
    with pytest.raises(UsageError, match=r"search.json has no 'objective' field: written by "
                                         r"another version"):
        settings_from_manifest(manifest, storage="experiments")
    manifest = manifest_of()
    manifest["scheduler"]["type"] = "HyperBandScheduler"
    with pytest.raises(UsageError, match=r"unknown scheduler type 'HyperBandScheduler'"):
        settings_from_manifest(manifest, storage="experiments")


def test_a_time_budget_pickled_by_an_earlier_version_is_not_read_as_one() -> None:
    # Ray 2.60's TimeoutStopper's fields: no shim turns them into a budget any more; the
    # state format keeps such a pickle from being read at all.
    old = TimeBudget.__new__(TimeBudget)
    with pytest.raises(KeyError):
        old.__setstate__({"_timeout_seconds": 30.0, "_budget": 12.0, "experiment": None})


def test_the_command_says_so_in_one_line_and_exits_2(tmp_path: Path) -> None:
    manifest = manifest_of()
    del manifest["state_format"]
    folder = experiment_of(tmp_path, manifest)
    proc = run_cli("resume", str(folder))
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert "its Ray Tune state was written by another version of mnist-hpo" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert run_cli("leaderboard", str(folder)).returncode == 0
