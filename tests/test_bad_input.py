"""Every user input, wrong: one line naming the input, the value and the rule; exit code 2;
no traceback; nothing already written lost or overwritten. docs/bad-input.md's table lists
the same rows."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from conftest import run_cli
from test_reports import write_experiment

# (arguments, the one line's expected text). EXP is a finished experiment, EMPTY an empty
# folder, DATA the real mnist.npz, TRUNC a truncated copy, BADSPACE a space file with a
# dropout of 1.5, RUN a folder holding an earlier run.
ROWS = [
    # mnist-hpo train
    (["train", "--data", "/nonexistent.npz"], r"/nonexistent\.npz: no such file or folder"),
    (["train", "--data", "TRUNC"], r"trunc\.npz: not an \.npz \(zip\) archive: truncated"),
    (["train", "--config", "{oops"], r"--config: not valid JSON"),
    (["train", "--config", '{"dropout": 0.3}'], r"--config: unknown parameter 'dropout'"),
    (["train", "--config", '{"conv_blocks": 5}'],
     r"conv_blocks: 5 breaks the rule 1 <= value <= 4"),
    (["train", "--config", "/nonexistent.json"], r"--config /nonexistent\.json: cannot read it"),
    (["train", "--space", "default"], r"--space default: samples .* pass it as --config"),
    (["train", "--space", "BADSPACE"], r"bad\.yaml: conv_dropout: 1\.5 breaks the rule 0 <= val"),
    (["train", "--epochs", "0"], r"argument --epochs: 0 must be at least 1"),
    (["train", "--subset", "99999"], r"--subset 99999: must be between 1 and 55000"),
    (["train", "--validation", "60000"], r"--validation 60000: must be at least 1 and leave"),
    (["train", "--out", "RUN"], r"--out .*run: already exists and is not an empty folder"),
    # mnist-hpo search
    (["search", "--space", "nope"], r"space 'nope': not a preset \(default, seed, smoke"),
    (["search", "--trials", "0"], r"argument --trials: 0 must be at least 1"),
    (["search", "--scheduler", "pbt"], r"argument --scheduler: invalid choice: 'pbt'"),
    (["search", "--sampler", "cmaes"], r"argument --sampler: invalid choice: 'cmaes'"),
    (["search", "--cpus-per-trial", "0"], r"argument --cpus-per-trial: 0 must be more than 0"),
    (["search", "--gpus-per-trial", "1.5"], r"--gpus-per-trial 1\.5: must be a fraction"),
    (["search", "--time-budget", "soon"], r"--time-budget 'soon': not a duration"),
    (["search", "--epoch-budget", "0"], r"argument --epoch-budget: 0 must be at least 1"),
    (["search", "--finalists", "0"], r"argument --finalists: 0 must be at least 1"),
    (["search", "--finalists", "3"], r"--finalists 3: finalists are planned under "
                                     r"--scheduler asha-promotion with --time-budget or"),
    (["search", "--finalists", "30", "--time-budget", "1h"],
     r"--finalists 30: must be at most --trials \(20\)"),
    (["search", "--epochs", "2", "--grace-period", "3"],
     r"--grace-period 3: must be between 1 and --epochs \(2\)"),
    (["search", "--reduction-factor", "1"], r"--reduction-factor 1\.0: must be more than 1"),
    (["search", "--max-failures", "-1"], r"--max-failures -1: must be 0 or more"),
    (["search", "--name", "a/b"], r"--name 'a/b': use letters, digits"),
    (["search", "--name", "EXPNAME", "--storage", "EXPSTORE"],
     r"--name t: .* already holds a search; choose another --name"),
    (["search", "--data", "/nonexistent.npz"], r"/nonexistent\.npz: no such file or folder"),
    # reading experiments
    (["leaderboard", "/nonexistent"], r"/nonexistent: no such experiment folder"),
    (["leaderboard", "EMPTY"], r"empty: is empty; not an experiment written by mnist-hpo"),
    (["leaderboard", "EXP", "--sort", "speed"], r"--sort 'speed': not a column"),
    (["leaderboard", "EXP", "--format", "xml"], r"argument --format: invalid choice: 'xml'"),
    (["report", "/nonexistent"], r"/nonexistent: no such experiment folder"),
    (["export", "EXP", "--trial", "9"], r"--trial 9: no such trial in .* \(trials: 1, 2, 3, 4\)"),
    (["export", "EXP", "--trial", "4"],
     r"--trial 4: no checkpoint of its best epoch 1 in .*trial_0004 \(checkpointed epochs: none\)"),
    (["resume", "/nonexistent"], r"/nonexistent: no such experiment folder"),
    (["resume", "EXP"], r"exp: this search already finished all its trials; nothing to resume"),
    (["extend", "EXP"], r"the following arguments are required: --trials"),
    (["replay", "EXP", "--trial", "9"], r"--trial 9: no such trial in"),
    (["spaces", "show", "BADSPACE"], r"bad\.yaml: conv_dropout: 1\.5 breaks the rule"),
    (["spaces", "sample", "default", "-n", "0"], r"argument -n: 0 must be at least 1"),
]


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory, mnist_path: Path) -> dict[str, str]:
    root = tmp_path_factory.mktemp("bad")
    exp = write_experiment(root / "exp")
    (root / "empty").mkdir()
    run = root / "run"
    run.mkdir()
    (run / "model.keras").write_text("an earlier model")
    trunc = root / "trunc.npz"
    trunc.write_bytes(mnist_path.read_bytes()[:100_000])
    space = root / "bad.yaml"
    space.write_text("params: {conv_dropout: 1.5}\n")
    store = root / "store"
    write_experiment(store / "t")
    return {"EXP": str(exp), "EMPTY": str(root / "empty"), "RUN": str(run), "TRUNC": str(trunc),
            "BADSPACE": str(space), "EXPNAME": "t", "EXPSTORE": str(store)}


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(path).encode() + path.read_bytes())
    return h.hexdigest()


@pytest.mark.parametrize(("args", "message"), ROWS, ids=[" ".join(r[0]) for r in ROWS])
def test_bad_input(args: list[str], message: str, places: dict[str, str],
                   mnist_path: Path) -> None:
    args = [places.get(a, a) for a in args]
    if args[0] in ("train", "search") and "--data" not in args:
        args += ["--data", str(mnist_path)]
    root = Path(places["EXP"]).parent
    before = digest(root)
    proc = run_cli(*args)
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr + proc.stdout
    errors = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
    assert len(errors) == 1 and re.search(message, errors[0]), proc.stderr
    assert digest(root) == before  # nothing written before was touched


def test_export_no_checkpoint_row_is_real(places: dict[str, str]) -> None:
    # Row "export --trial 4" relies on the synthetic experiment having no checkpoints.
    assert not list(Path(places["EXP"]).glob("trial_*/checkpoint_*"))
    assert json.loads((Path(places["EXP"]) / "search.json").read_text())["status"] == "finished"
