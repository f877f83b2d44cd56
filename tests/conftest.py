"""Shared fixtures: real MNIST (required, never downloaded) and small synthetic datasets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
#: ``mnist-hpo`` as a user runs it, through the installed package.
CLI = [sys.executable, "-m", "mnist_hpo.search"]


@pytest.fixture(scope="session")
def mnist_path() -> Path:
    """The real MNIST file: $MNIST_HPO_DATA, else ../shared/data/mnist.npz beside the repo."""
    path = Path(os.environ.get("MNIST_HPO_DATA") or REPO.parent / "shared/data/mnist.npz")
    if not path.is_file():
        pytest.fail(f"real MNIST not found at {path}: set MNIST_HPO_DATA to a mnist.npz")
    return path


@pytest.fixture
def state_saved_every_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """Searches started by the test save Ray's experiment state (and copy the trials' files
    into the experiment folder) at every step of Ray's loop, not every 10 s or more: tests
    that aim a kill or a Ctrl-C at an event seen in those files see it while it is still
    true. Ray's own setting (``TUNE_GLOBAL_CHECKPOINT_S``); what a kill costs is the same."""
    monkeypatch.setenv("TUNE_GLOBAL_CHECKPOINT_S", "0")


def synthetic_arrays(n_train: int = 60, n_test: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    """Random MNIST-shaped arrays: uint8 images and labels 0-9."""
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train).astype(np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test).astype(np.uint8),
    }


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600
            ) -> subprocess.CompletedProcess[str]:
    """Run ``mnist-hpo ARGS`` in a fresh process, as a user would."""
    return subprocess.run([*CLI, *args], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout, check=False)


@pytest.fixture(scope="session")
def search_run(mnist_path: Path, tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[Path, str]:
    """One real search, shared by the search, report and export tests: ``(folder, stdout)``.

    4 trials x 2 epochs on 3,000 real images, 1 CPU per trial on a local Ray runtime. Half
    the test space's learning rates learn and half cannot (1e-6); Ray's (stopping) ASHA
    with a reduction factor of 4 keeps only the top quarter after epoch 1, so a trial that
    reaches the rung below one before it is stopped there. One trial at a time: the order
    of the results, and so ASHA's decisions, are the sampler's, not the machine's (trial 1
    learns; 2 and 3 cannot and are stopped). (The default promotion type has its own real
    search: tests/test_promotion_e2e.py.)
    """
    storage = tmp_path_factory.mktemp("experiments")
    proc = run_cli("search", "--space", str(REPO / "tests/data/asha_space.yaml"),
                   "--trials", "4", "--epochs", "2", "--subset", "3000", "--validation", "1000",
                   "--cpus-per-trial", "1", "--scheduler", "asha", "--reduction-factor", "4",
                   "--seed", "0", "--max-concurrent", "1",
                   "--data", str(mnist_path), "--storage", str(storage), "--name", "e2e")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return storage / "e2e", proc.stdout


@pytest.fixture(scope="session")
def budget_run(mnist_path: Path, tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[Path, str]:
    """A real search that ends on its epoch budget with a trial in flight: ``(folder,
    stdout)``.

    One trial at a time, 4 epochs each, 9 epochs in all on 2,000 real images: trials 1 and 2
    run their 4 epochs and trial 3 is stopped by the budget during its second. Both of the
    space's learning rates overshoot (measured: 0.937 then 0.924 at 0.01, 0.909 then 0.906
    at 0.03 in epochs 3 and 4), so a trial's best epoch is not its last.
    """
    storage = tmp_path_factory.mktemp("experiments")
    proc = run_cli("search", "--space", str(REPO / "tests/data/budget_space.yaml"),
                   "--trials", "4", "--epochs", "4", "--scheduler", "fifo",
                   "--epoch-budget", "9", "--max-concurrent", "1", "--subset", "2000",
                   "--validation", "1000", "--cpus-per-trial", "1", "--seed", "0",
                   "--data", str(mnist_path), "--storage", str(storage), "--name", "budget")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return storage / "budget", proc.stdout
