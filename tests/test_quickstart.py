"""README's first command, as a newcomer runs it: a real search that ends with the
leaderboard's top rows and the commands to type next."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from conftest import REPO, run_cli

# The limits catch a hang, not slowness: the search took 2.7 min alone and 8.6 min beside
# two benchmarks on 2 cores.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def quick_start_search() -> list[str]:
    """The arguments of the ``mnist-hpo search`` in README's first shell block."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "README's quick start has no bash block"
    command = block.group(1).replace("\\\n", " ")
    assert "pip install -c constraints.txt ." in command  # it installs the lock, then searches
    words = shlex.split(command.split("&& mnist-hpo ", 1)[1].strip())
    assert words[0] == "search", words
    return words


def test_the_quick_start_search_runs_and_says_what_next(
        tmp_path: Path, mnist_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = quick_start_search()
    assert "--data" not in args  # a user's data comes from Keras; here from MNIST_HPO_DATA
    monkeypatch.setenv("MNIST_HPO_DATA", str(mnist_path.resolve()))  # cwd changes
    proc = run_cli(*args, cwd=tmp_path, timeout=1700)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert re.search(r"Top \d+ trials:\nrank  trial  state", out), out[-2000:]
    experiment = next((tmp_path / "experiments").iterdir())
    for command in ("report", "export"):
        assert f"mnist-hpo {command} {experiment}" in out
    assert "mnist-hpo search --space default --trials 200 --epochs 6 --time-budget 60m " \
        "--finalists 3" in out
    finished = [line for line in out.splitlines() if line.startswith("Trial ")]
    assert len(finished) == int(args[args.index("--trials") + 1])
