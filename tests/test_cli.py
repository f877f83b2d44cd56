"""The command line: spaces commands in-process; bad input exits 2 with one line; --version."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import run_cli

from mnist_hpo.reports import TrialState
from mnist_hpo.search.cli.main import main
from mnist_hpo.search.experiment import SearchStatus
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


def _tally(completed: int = 0, stopped: int = 0, cut: int = 0, errored: int = 0,
           interrupted: int = 0) -> dict[TrialState, int]:
    return dict.fromkeys(TrialState, 0) | {
        TrialState.COMPLETED: completed, TrialState.STOPPED: stopped, TrialState.CUT: cut,
        TrialState.ERRORED: errored, TrialState.INTERRUPTED: interrupted}


@pytest.mark.parametrize(("status", "tally", "best", "code", "lines"), [
    # A budget that cut every trial mid-way still gave a best trial: the search did as asked.
    (SearchStatus.TIME_BUDGET, _tally(cut=4), 1, 0,
     ["Time budget reached with 4 of 200 planned trials started.",
      "Trials: 0 completed, 0 stopped early, 4 cut by the budget, 0 errored. Experiment: x"]),
    (SearchStatus.EPOCH_BUDGET, _tally(completed=2, stopped=7, cut=1), 3, 0,
     ["Epoch budget reached with 10 of 200 planned trials started.",
      "Trials: 2 completed, 7 stopped early, 1 cut by the budget, 0 errored. Experiment: x"]),
    (SearchStatus.TIME_BUDGET, _tally(cut=2), None, 1,
     ["Time budget reached with 2 of 200 planned trials started.",
      "Trials: 0 completed, 0 stopped early, 2 cut by the budget, 0 errored. Experiment: x",
      "No trial reported a result."]),
    (SearchStatus.FINISHED, _tally(completed=3, stopped=196, errored=1), 2, 0,
     ["Finished: all 200 planned trials ran.",
      "Trials: 3 completed, 196 stopped early, 0 cut by the budget, 1 errored. Experiment: x"]),
    (SearchStatus.FINISHED, _tally(errored=200), None, 1,
     ["Finished: all 200 planned trials ran.",
      "Trials: 0 completed, 0 stopped early, 0 cut by the budget, 200 errored. Experiment: x",
      "No trial reported a result."]),
    (SearchStatus.FAILURE_BUDGET, _tally(completed=1, errored=2, interrupted=1), 1, 1,
     ["Stopped: 0 trials failed, the --max-failed-trials budget:",
      "Fix the cause, then continue with: mnist-hpo resume x",
      "Trials: 1 completed, 0 stopped early, 0 cut by the budget, 2 errored, 1 interrupted. "
      "Experiment: x"]),
    (SearchStatus.INTERRUPTED, _tally(completed=1, interrupted=2), 1, 130,
     ["Interrupted with 3 of 200 planned trials started; the experiment is saved. Continue "
      "it with: mnist-hpo resume x",
      "Trials: 1 completed, 0 stopped early, 0 cut by the budget, 0 errored, 2 interrupted. "
      "Experiment: x"]),
    (SearchStatus.INTERRUPTED, _tally(interrupted=2), None, 130,
     ["Interrupted with 2 of 200 planned trials started; the experiment is saved. Continue "
      "it with: mnist-hpo resume x",
      "Trials: 0 completed, 0 stopped early, 0 cut by the budget, 0 errored, 2 interrupted. "
      "Experiment: x",
      "No trial reported a result."]),
])
def test_each_ending_is_told_as_it_is_with_its_exit_code(
        status: SearchStatus, tally: dict[TrialState, int], best: int | None, code: int,
        lines: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from mnist_hpo.search.cli.search import report_outcome
    from mnist_hpo.search.tune.outcome import SearchOutcome

    outcome = SearchOutcome("x", status, 200, tally, best, None if best is None else 0.99,
                            None if best is None else {"batch_norm": True}, None)
    assert report_outcome(outcome) == code
    out = capsys.readouterr().out.splitlines()
    assert out[1:1 + len(lines)] == lines


def test_version_names_the_package_and_the_libraries_it_runs_with() -> None:
    """The first lines of a bug report, without a command and without importing TensorFlow
    (which would print its start-up lines and take seconds)."""
    proc = run_cli("--version")
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(r"mnist-hpo \S+ \(ray \S+, optuna \S+, tensorflow \S+, keras \S+\)\n",
                        proc.stdout), proc.stdout
    assert "not installed" not in proc.stdout.split("(", 1)[1], proc.stdout
    assert proc.stderr == "", proc.stderr


def test_version_does_not_import_tensorflow() -> None:
    code = ("import sys\nfrom mnist_hpo.search.cli.main import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit as e:\n    exit_code = e.code\n"
            "print('tensorflow' in sys.modules, exit_code)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.stdout.splitlines()[-1] == "False 0", proc.stdout + proc.stderr
