"""How mnist-hpo installs: one import name, and the rooms' direction of dependency."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO

pytestmark = pytest.mark.slow


def test_the_wheel_installs_one_import_name(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "--wheel-dir", str(tmp_path), str(REPO)],
                          capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    [wheel] = tmp_path.glob("mnist_hpo-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"mnist_hpo"}, tops
    assert {"mnist_hpo/search/cli/main.py", "mnist_hpo/search/training/fit.py",
            "mnist_hpo/search/tune/driver.py", "mnist_hpo/search/experiment/records.py",
            "mnist_hpo/reports/leaderboard.py",
            "mnist_hpo/spaces/presets/default.yaml"} <= set(names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "mnist-hpo = mnist_hpo.search.cli:run" in zipfile.ZipFile(wheel).read(entry).decode()


def test_imports_follow_the_rooms_direction() -> None:
    """import-linter's contracts in pyproject.toml: a wrong import fails here."""
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True,
                          check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Contracts: 7 kept, 0 broken." in proc.stdout
