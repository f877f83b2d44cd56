"""Each command's output is its own: no TensorFlow, absl or Ray log lines at default
verbosity; ``--verbose`` brings them back.

The commands run as a user runs them (fresh processes, real MNIST, a tiny subset): one
``train``, one search of 2 trials x 1 epoch, and ``export`` of that search.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from mnist_hpo.search.training.runtime import VERBOSE_ENV, startup_lines_to_show

#: What a library's log line looks like, each with what it catches. Our own lines are plain
#: prints, or ``LEVEL mnist_hpo.module: message`` from our loggers.
NOISE = {
    "absl C++ log line (TensorFlow, XLA)": re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ "),
    "absl's not-initialised notice": re.compile(r"absl::InitializeLog"),
    "TensorFlow source path": re.compile(r"tensorflow/|local_xla/|local_tsl/|\.cc:\d+\]"),
    "oneDNN notice": re.compile(r"oneDNN|TF_ENABLE_ONEDNN_OPTS"),
    "CUDA probing": re.compile(r"cuda|cuInit|cudart|cuDNN|cuBLAS", re.IGNORECASE),
    "Ray worker output forwarded to the driver": re.compile(r"\((raylet|pid=\d+|\w+ pid=\d+)\)"),
    "Ray C++ log line": re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [IWEF] \d+ \d+\]"),
    "Ray Python log line": re.compile(
        r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+\s+(DEBUG|INFO|WARNING|ERROR)\s+\S+\.py:\d+ -- "),
    "Ray internals": re.compile(r"ray/_private|ray\._private|INFO worker\.py"),
    "Ray token authentication": re.compile(r"[Tt]oken authentication|RAY_AUTH_MODE"),
    "a library's logger through ours": re.compile(
        r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL) (?!mnist_hpo[.:])\S+: "),
    "Python warning": re.compile(r"\.py:\d+: \w*Warning: "),
    "traceback": re.compile(r"Traceback \(most recent call last\)"),
}


def noise(output: str) -> list[str]:
    """The lines of ``output`` that are some library's, each with what it matched."""
    return [f"{what}: {line}" for line in output.splitlines()
            for what, pattern in NOISE.items() if pattern.search(line)]


def test_the_patterns_catch_what_the_commands_printed_before() -> None:
    """Lines `train`, `search` and `export` printed before they were quieted (TF 2.21, Ray
    2.60, a CPU machine), and lines of our own that must pass."""
    before = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1796456703.839270    3627 port.cc:153] oneDNN custom operations are on.",
        "I0000 00:00:1796456703.840078    3627 cudart_stub.cc:31] Could not find cuda drivers "
        "on your machine, GPU will not be used.",
        "E0000 00:00:1796456708.028984    3627 cuda_platform.cc:52] failed call to cuInit: "
        "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
        "INFO matplotlib.font_manager: generated new fontManager",
        "2026-12-05 07:46:46,231\tWARNING authentication_token_setup.py:85 -- Token "
        "authentication is enabled for this Ray cluster. Set RAY_AUTH_MODE=disabled to opt out.",
        "[2026-12-05 07:51:13,697 W 12795 12795] gcs_client.cc:210: Failed to get cluster ID",
        "\x1b[36m(EpochTrainable pid=19704)\x1b[0m Checkpoint successfully created at: ...",
    ]
    assert [bool(noise(line)) for line in before] == [True] * len(before)
    ours = ["Exported trial 2, epoch 1 to /tmp/q/s1/export/: model.keras, saved_model/",
            "WARNING mnist_hpo.search.training.runtime: TensorFlow already runs with 2 threads",
            "Trial 1 finished: val_accuracy=0.8460 after 1 epoch {'conv_blocks': 2}."]
    assert noise("\n".join(ours)) == []


def test_tensorflow_startup_filter_keeps_what_is_not_chatter() -> None:
    """What ``start_tensorflow`` passes on from TensorFlow's start-up (fast: no TF)."""
    preamble = ("WARNING: All log messages before absl::InitializeLog() is called are written "
                "to STDERR\n")
    onednn = "I0000 00:00:1796456703.839270    3627 port.cc:153] oneDNN custom operations\n"
    warning = "W0000 00:00:1796456703.839270    3627 some.cc:1] a warning\n"
    no_driver = ("I0000 00:00:1796456703.840078    3627 cudart_stub.cc:31] Could not find cuda "
                 "drivers on your machine, GPU will not be used.\n")
    cuinit = ("E0000 00:00:1796456708.028984    3627 cuda_platform.cc:52] failed call to "
              "cuInit: INTERNAL: CUDA error\n")
    other_error = "E1205 07:46:46.231000    3627 op_kernel.cc:9] something real\n"
    python = "/x/y.py:3: UserWarning: from Python\n  warn()\nValueError: broken\n"
    text = preamble + onednn + warning + no_driver + cuinit + other_error + python
    assert "".join(startup_lines_to_show(text, 2)) == other_error + python
    # Without a "no driver" line, a failed cuInit is a GPU machine's fault: it shows.
    assert startup_lines_to_show(preamble + cuinit, 2) == [cuinit]
    # TF_CPP_MIN_LOG_LEVEL=0 (a user's): TensorFlow's info lines are what they asked for.
    assert startup_lines_to_show(onednn + warning, 0) == [onednn, warning]
    assert startup_lines_to_show(other_error, 3) == []


@pytest.fixture(scope="module", autouse=True)
def default_environment() -> Iterator[None]:
    """Default verbosity: none of the switches a developer's shell may carry."""
    with pytest.MonkeyPatch.context() as env:
        for name in (VERBOSE_ENV, "TF_CPP_MIN_LOG_LEVEL", "RAY_AUTH_MODE"):
            env.delenv(name, raising=False)
        yield


@pytest.fixture(scope="module")
def quiet_search(mnist_path: Path, tmp_path_factory: pytest.TempPathFactory,
                 default_environment: None) -> tuple[Path, str]:
    """A search of 2 trials x 1 epoch on a local Ray runtime: ``(experiment, output)``."""
    storage = tmp_path_factory.mktemp("quiet")
    proc = run_cli("search", "--space", "smoke", "--trials", "2", "--epochs", "1",
                   "--subset", "1500", "--validation", "1000", "--scheduler", "fifo",
                   "--no-warm-start", "--seed", "0", "--data", str(mnist_path),
                   "--storage", str(storage), "--name", "quiet")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return storage / "quiet", proc.stdout + proc.stderr


@pytest.mark.slow
def test_train_prints_only_its_own_lines(mnist_path: Path, tmp_path: Path) -> None:
    small = {"conv_blocks": 1, "convs_per_block": 1, "filters_1": 8, "dense_units": 32}
    proc = run_cli("train", "--config", json.dumps(small), "--epochs", "1", "--subset", "1500",
                   "--validation", "1000", "--data", str(mnist_path), "--out",
                   str(tmp_path / "train"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert noise(proc.stdout + proc.stderr) == []
    assert "test_accuracy" in proc.stdout


@pytest.mark.slow
def test_search_prints_only_its_own_lines(quiet_search: tuple[Path, str]) -> None:
    _, output = quiet_search
    assert noise(output) == []
    assert "Trial 2 finished" in output


@pytest.mark.slow
def test_export_prints_only_its_own_lines(quiet_search: tuple[Path, str],
                                          tmp_path: Path) -> None:
    experiment, _ = quiet_search
    proc = run_cli("export", str(experiment), "--out", str(tmp_path / "export"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert noise(proc.stdout + proc.stderr) == []
    assert proc.stderr == ""
    assert "Reloaded in a fresh process: predictions match" in proc.stdout


@pytest.mark.slow
def test_a_failed_reload_still_says_why(tmp_path: Path) -> None:
    """The quiet fresh process still fails, and its last line is the reason, not a log line."""
    from mnist_hpo.reports.export import ExportError, verify_in_fresh_process

    x = np.zeros((2, 28, 28, 1), np.float32)
    with pytest.raises(ExportError, match=r"does not reload in a fresh process: \w*Error: "
                                          r".*model\.keras") as failed:
        verify_in_fresh_process(tmp_path, x, np.full((2, 10), 0.1, np.float32))
    assert noise(str(failed.value)) == []


@pytest.mark.slow
def test_verbose_brings_the_library_lines_back(quiet_search: tuple[Path, str],
                                               tmp_path: Path) -> None:
    """``--verbose`` after the command (also accepted before it): TensorFlow's start-up lines
    show. (On an x86 Linux TensorFlow build the oneDNN notice is always among them.)"""
    experiment, _ = quiet_search
    proc = run_cli("export", str(experiment), "--out", str(tmp_path / "export"), "--verbose")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert noise(proc.stderr), proc.stderr[-3000:]
    assert "Reloaded in a fresh process: predictions match" in proc.stdout
