"""The project's own promises: lint- and type-clean, small modules, light imports."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO

FOLDERS = ("search", "search/cli", "search/training", "search/tune", "search/policy",
           "search/experiment", "spaces", "reports")


def test_ruff_clean() -> None:
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=REPO,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_clean() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("folder", FOLDERS)
def test_modules_stay_small(folder: str) -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in (REPO / folder).glob("*.py")}
    assert sizes and all(n <= 300 for n in sizes.values()), sizes


def test_spaces_and_cli_listing_do_not_import_tensorflow() -> None:
    code = ("import sys, mnist_hpo.spaces as spaces, mnist_hpo.search.cli; "
            "import mnist_hpo.search.training, mnist_hpo.search.tune; "
            "spaces.load_space('default'); mnist_hpo.search.cli.build_parser(); "
            "print(sorted(m for m in ('tensorflow', 'keras', 'ray', 'optuna') "
            "if m in sys.modules))")
    # Run from elsewhere: the installed package, not the repository's folders.
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO / "tests", capture_output=True,
                          text=True, check=True)
    assert proc.stdout.strip() == "[]"
