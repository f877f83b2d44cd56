"""The command line: spaces commands in-process; bad input exits 2 with one line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import run_cli

from mnist_hpo.search.cli.main import main
from mnist_hpo.spaces import load_space


def test_spaces_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spaces"]) == 0
    out = capsys.readouterr().out
    for name in ("seed", "default", "smoke"):
        assert f"\n{name} " in out


def test_spaces_show_prints_loadable_yaml(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    assert main(["spaces", "show", "default"]) == 0
    path = tmp_path / "copy.yaml"
    path.write_text(capsys.readouterr().out)
    assert yaml.safe_load(path.read_text())["name"] == "default"
    assert load_space(path).domains == load_space("default").domains


def test_spaces_sample_prints_configurations(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spaces", "sample", "default", "-n", "5", "--seed", "3"]) == 0
    configs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(configs) == 5 and all(load_space("default").contains(c) for c in configs)
    assert len({json.dumps(c) for c in configs}) == 5


def test_bad_space_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spaces", "show", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "space 'nope': not a preset" in err


@pytest.mark.parametrize(("args", "message"), [
    (["--data", "/nonexistent.npz"], r"/nonexistent.npz: no such file or folder"),
    (["--config", "{bad json"], r"--config: not valid JSON"),
    (["--config", '{"dense_dropout": 1.5}'], r"dense_dropout: 1.5 breaks the rule 0 <= value < 1"),
    (["--space", "default"], r"--space default: samples conv_blocks, .* pass it as --config"),
    (["--epochs", "0"], r"argument --epochs: 0 must be at least 1"),
    (["--subset", "60000"], r"--subset 60000: must be between 1 and 55000"),
])
def test_train_bad_input(args: list[str], message: str, mnist_path: Path) -> None:
    proc = run_cli("train", "--data", str(mnist_path), *args)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
    assert len(errors) == 1 and re.search(message, errors[0]), proc.stderr


def test_train_never_overwrites(tmp_path: Path, mnist_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "model.keras").write_text("an earlier run")
    proc = run_cli("train", "--data", str(mnist_path), "--out", str(out))
    assert proc.returncode == 2
    assert "already exists and is not an empty folder" in proc.stderr
    assert (out / "model.keras").read_text() == "an earlier run"


@pytest.mark.parametrize(("in_progress", "line"), [
    (9, "Time budget reached after 2 of 40 trials; 9 more were in progress and stopped "
        "early."),
    (1, "Time budget reached after 2 of 40 trials; 1 more was in progress and stopped "
        "early."),
    (0, "Time budget reached after 2 of 40 trials.")])
def test_a_budget_end_counts_the_trials_it_cut(in_progress: int, line: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    # Under the promotion type most trials of a short search wait at a rung when the budget
    # ends: "after 2 of 40 trials" alone read as if only 2 had run (README's 30-minute
    # search started 11).
    from mnist_hpo.reports.status import SearchStatus
    from mnist_hpo.search.cli.search import report_outcome
    from mnist_hpo.search.tune.driver import SearchOutcome

    outcome = SearchOutcome("experiments/x", SearchStatus.TIME_BUDGET, 2, 40, 0, 2, 0.9942,
                            {"batch_norm": True}, None, in_progress=in_progress)
    assert report_outcome(outcome) == 0
    assert capsys.readouterr().out.splitlines()[1] == line
