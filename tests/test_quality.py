"""The project's own promises: lint- and type-clean, small modules, light imports."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO

PACKAGES = ("search", "spaces", "reports")


def test_ruff_clean() -> None:
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=REPO,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_clean() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("package", PACKAGES)
def test_modules_stay_small(package: str) -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in (REPO / package).glob("*.py")}
    assert all(n <= 300 for n in sizes.values()), sizes


def test_spaces_and_cli_listing_do_not_import_tensorflow() -> None:
    code = ("import sys, spaces, search, search.cli; spaces.load_space('default'); "
            "print(sorted(m for m in ('tensorflow', 'keras', 'ray') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, check=True)
    assert proc.stdout.strip() == "[]"
