"""TensorFlow loads with its oneDNN CPU kernels on, unless the user said otherwise
(``search/training/runtime.py``), and the benchmark that measures them summarizes its cases
as it says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks.cpu_kernels import summarize
from mnist_hpo.reports.export import kernels_hint
from mnist_hpo.search.training.runtime import (
    ONEDNN_ENV,
    TF_LOG_LEVEL,
    VERBOSE_ENV,
    follow_recorded_kernels,
    recorded_kernels,
    tensorflow_environment,
)

#: What TensorFlow 2.21 logs when it loads with the oneDNN kernels on, and only then.
ONEDNN_ON = "oneDNN custom operations are on"
ROOT = Path(__file__).resolve().parents[1]


def test_onednn_is_on_unless_the_user_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (ONEDNN_ENV, VERBOSE_ENV, "TF_CPP_MIN_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    assert tensorflow_environment() == {ONEDNN_ENV: "1", "TF_CPP_MIN_LOG_LEVEL": TF_LOG_LEVEL}
    monkeypatch.setenv(ONEDNN_ENV, "0")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    assert tensorflow_environment() == {ONEDNN_ENV: "0", "TF_CPP_MIN_LOG_LEVEL": "0"}
    # --verbose: TensorFlow logs as it would; the kernels stay the same.
    monkeypatch.setenv(VERBOSE_ENV, "1")
    assert tensorflow_environment() == {ONEDNN_ENV: "0"}


@pytest.mark.parametrize("user", [None, "0"])
def test_tensorflow_loads_with_the_kernels_asked_for(user: str | None) -> None:
    """In a fresh process, as every command starts TensorFlow; verbose, so that TensorFlow's
    own notice says which kernels it loaded (on a CPU without AVX-512 it says nothing of
    oneDNN by itself: this machine's AMD EPYC)."""
    env = {k: v for k, v in os.environ.items() if k != ONEDNN_ENV}
    env[VERBOSE_ENV] = "1"
    if user is not None:
        env[ONEDNN_ENV] = user
    code = ("from mnist_hpo.search.training.runtime import start_tensorflow; "
            "start_tensorflow()")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (ONEDNN_ON in proc.stderr) is (user is None), proc.stderr[-3000:]


def test_a_search_records_its_kernels_and_export_follows_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ONEDNN_ENV, raising=False)
    assert recorded_kernels() == {ONEDNN_ENV: "1"}
    monkeypatch.setenv(ONEDNN_ENV, "0")
    assert recorded_kernels() == {ONEDNN_ENV: "0"}
    # A search recorded oneDNN off; export, in a shell where the user set nothing, follows.
    monkeypatch.delenv(ONEDNN_ENV)
    follow_recorded_kernels({ONEDNN_ENV: "0"})
    assert os.environ[ONEDNN_ENV] == "0"
    monkeypatch.setenv(ONEDNN_ENV, "1")  # the user's own value wins
    follow_recorded_kernels({ONEDNN_ENV: "0"})
    assert os.environ[ONEDNN_ENV] == "1"


def test_an_experiment_without_a_kernel_record_says_how_to_export_it() -> None:
    old, new = (SimpleNamespace(manifest=m) for m in ({}, {"tensorflow": {ONEDNN_ENV: "1"}}))
    assert "TF_ENABLE_ONEDNN_OPTS=0" in kernels_hint(old)  # type: ignore[arg-type]
    assert kernels_hint(new) == ""  # type: ignore[arg-type]


@pytest.mark.parametrize(("recorded", "user", "onednn"),
                         [("0", None, False), ("1", None, True), ("0", "1", True)])
def test_export_starts_tensorflow_with_the_recorded_kernels(recorded: str, user: str | None,
                                                             onednn: bool) -> None:
    """What export runs before it loads a checkpoint, in a fresh process as export is."""
    env = {k: v for k, v in os.environ.items() if k != ONEDNN_ENV}
    env[VERBOSE_ENV] = "1"
    if user is not None:
        env[ONEDNN_ENV] = user
    code = ("import sys, json; from types import SimpleNamespace; "
            "from mnist_hpo.reports.export import start_tensorflow_as_recorded; "
            "start_tensorflow_as_recorded(SimpleNamespace(manifest=json.loads(sys.argv[1])))")
    manifest = json.dumps({"tensorflow": {ONEDNN_ENV: recorded}})
    proc = subprocess.run([sys.executable, "-c", code, manifest], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (ONEDNN_ON in proc.stderr) is onednn, proc.stderr[-3000:]


def test_the_benchmark_compares_the_sides_case_by_case() -> None:
    cases = [{"side": side, "concurrency": c, "images_per_second": ips, "round": r}
             for r, (side, c, ips) in enumerate([("onednn", 1, 200.0), ("eigen", 1, 150.0),
                                                 ("onednn", 1, 190.0), ("eigen", 1, 140.0),
                                                 ("onednn", 2, 390.0)])]
    summary = summarize(cases)
    assert summary["1"] == {"images_per_second": {"onednn": 195.0, "eigen": 145.0},
                            "speedup": pytest.approx(195 / 145)}
    # A concurrency with one side measured so far (a run stopped midway): no speed-up yet.
    assert summary["2"] == {"images_per_second": {"onednn": 390.0}}


@pytest.mark.slow
def test_quick_measures_both_sides_at_each_concurrency_and_a_rerun_skips_them(
        mnist_path: Path, tmp_path: Path) -> None:
    result = tmp_path / "cpu_kernels.json"
    command = [sys.executable, "benchmarks/cpu_kernels.py", "--quick", "--data", str(mnist_path),
               "--json", str(result)]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1200,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    saved = json.loads(result.read_text())
    cases = saved["cases"]
    assert sorted((k["concurrency"], k["side"]) for k in cases) == [
        (1, "eigen"), (1, "onednn"), (2, "eigen"), (2, "onednn")]
    for case in cases:  # as many processes as asked, each trained, their sum the figure
        each = [p["images_per_second"] for p in case["processes"]]
        assert len(each) == case["concurrency"] and min(each) > 0, case
        assert case["images_per_second"] == pytest.approx(sum(each))
        assert all(0 < p["val_accuracy"] <= 1 for p in case["processes"])
    assert set(saved["summary"]) == {"1", "2"}
    assert all(row["speedup"] > 0 for row in saved["summary"].values())
    # Resumable: a rerun at the same scale finds every case saved and trains nothing.
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                           check=False)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "round " not in again.stdout and json.loads(result.read_text())["cases"] == cases
