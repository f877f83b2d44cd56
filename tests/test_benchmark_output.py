"""Quick modes never overwrite full results (issue 32): every benchmark with ``--quick``
decides where it writes through ``benchmarks/output.py``, and a quick run goes to a new
temporary folder unless told otherwise, never over a full run's JSON."""

from __future__ import annotations

import ast
import importlib
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.output import out_dir, out_file  # noqa: E402


@dataclass(frozen=True)
class Writes:
    """Where a script's full run writes by default, and through which flag."""

    flag: str  # "out" (a folder) or "json" (a file)
    default: str
    file: str  # the JSON it writes (in the folder, or the file's own name)


SCRIPTS = {
    "cpu_kernels": Writes("json", "benchmarks/results/cpu_kernels.json", "cpu_kernels.json"),
    "early_ranks": Writes("out", "benchmarks/results", "early_ranks.json"),
    "gpu_packing": Writes("json", "benchmarks/results/gpu_packing.json", "gpu_packing.json"),
    "overview": Writes("out", "benchmarks/results", "overview.json"),
    "ray_bookkeeping": Writes("out", "docs/performance", "ray_bookkeeping.json"),
    "scheduler_replay": Writes("out", "docs/performance", "scheduler_replay.json"),
    "search_overhead": Writes("json", "benchmarks/results/search_overhead.json",
                              "search_overhead.json"),
    "search_quality": Writes("out", "benchmarks/results", "search_quality.json"),
    "simulated_search": Writes("out", "docs/performance", "simulated_search.json"),
    "train_throughput": Writes("json", "benchmarks/results/train_throughput.json",
                               "train_throughput.json"),
}
#: Scripts with ``--quick`` that save nothing, and why.
SAVES_NOTHING = {"leaderboard_scale": "its experiment lives in a TemporaryDirectory; the "
                                      "timing is only printed"}

MNIST = ROOT.parent / "shared/data/mnist.npz"  # a path only: parsing loads nothing
FULL_RUN = {"args": {"quick": False}, "runs": ["a full run's"]}
QUICK_RUN = {"args": {"quick": True}, "runs": ["a quick run's"]}


def _tree(script: str) -> ast.Module:
    return ast.parse((ROOT / "benchmarks" / f"{script}.py").read_text())


def _flags(tree: ast.Module) -> dict[str, ast.Call]:
    """The script's ``add_argument`` calls by their flag."""
    return {node.args[0].value: node for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "add_argument" and node.args
            and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)}


def _quick_scripts() -> set[str]:
    return {path.stem for path in (ROOT / "benchmarks").glob("*.py")
            if "--quick" in _flags(ast.parse(path.read_text()))}


def _discard(folder: Path) -> None:
    """Remove a quick run's temporary folder, and nothing else: with the rule broken, the
    folder handed back could be the repository's own (docs/performance)."""
    if folder.parent == Path(tempfile.gettempdir()) and folder.name.startswith("mnist-hpo-"):
        shutil.rmtree(folder)


def _written(script: str, *argv: str) -> Path:
    """Where ``script`` would write, as its own argument parsing decides (given the data
    where it takes them: some check them there)."""
    module = importlib.import_module(f"benchmarks.{script}")
    data = ["--data", str(MNIST)] if "--data" in _flags(_tree(script)) else []
    return Path(getattr(module.parse_args([*data, *argv]), SCRIPTS[script].flag))


# The shared rule.

def test_a_quick_run_without_out_gets_a_new_temporary_folder(tmp_path: Path) -> None:
    full = str(tmp_path / "full")
    first = out_dir(None, quick=True, default=full, name="demo", files=["x.json"])
    second = out_dir(None, quick=True, default=full, name="demo", files=[])
    try:
        for folder in (first, second):
            assert folder.is_dir() and not any(folder.iterdir())
            assert folder.parent == Path(tempfile.gettempdir())
            assert folder.name.startswith("mnist-hpo-demo-quick-")
        assert first != second
    finally:
        _discard(first)
        _discard(second)


def test_the_given_place_wins_and_a_full_run_keeps_its_default(tmp_path: Path) -> None:
    for quick in (True, False):
        assert out_dir(str(tmp_path), quick=quick, default="x", name="d", files=["a.json"]) \
            == tmp_path
        assert out_file(str(tmp_path / "a.json"), quick=quick, default="x/a.json",
                        name="d") == tmp_path / "a.json"
    assert out_dir(None, quick=False, default="benchmarks/results", name="d", files=[]) == \
        Path("benchmarks/results")
    assert out_file(None, quick=False, default="benchmarks/results/a.json", name="d") == \
        Path("benchmarks/results/a.json")


def test_a_quick_file_goes_to_a_temporary_folder_under_its_default_name() -> None:
    path = out_file(None, quick=True, default="benchmarks/results/a.json", name="demo")
    try:
        assert path.name == "a.json" and not path.exists()
        assert path.parent.name.startswith("mnist-hpo-demo-quick-")
    finally:
        _discard(path.parent)


@pytest.mark.parametrize("saved", [FULL_RUN, {"settings": {"configs": 24}}, ["not a run"],
                                   "not JSON"], ids=["full", "no-record", "list", "garbled"])
def test_a_quick_run_refuses_anything_but_a_quick_runs_json(
        tmp_path: Path, saved: object, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "a.json"
    path.write_text(saved if isinstance(saved, str) else json.dumps(saved))
    before = path.read_bytes()
    for flag in ("out", "json"):
        with pytest.raises(SystemExit) as exit_:
            if flag == "out":
                out_dir(str(tmp_path), quick=True, default="x", name="d", files=["a.json"])
            else:
                out_file(str(path), quick=True, default="x/a.json", name="d")
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"{path} holds a full run's results")
        assert "a --quick run never writes over them" in err
    assert path.read_bytes() == before
    # A full run may: it resumes (or replaces) its own kind.
    assert out_dir(str(tmp_path), quick=False, default="x", name="d", files=["a.json"]) == \
        tmp_path


@pytest.mark.parametrize("saved", [QUICK_RUN, {"settings": {}, "quick": True}],
                         ids=["args", "top-level"])
def test_a_quick_run_may_resume_a_quick_runs_json(tmp_path: Path, saved: object) -> None:
    (tmp_path / "a.json").write_text(json.dumps(saved))
    assert out_dir(str(tmp_path), quick=True, default="x", name="d", files=["a.json"]) == \
        tmp_path
    assert out_file(str(tmp_path / "a.json"), quick=True, default="x/a.json", name="d") == \
        tmp_path / "a.json"


# Every benchmark follows it.

def test_every_script_with_quick_is_listed() -> None:
    # A new benchmark with --quick must say where it writes (SCRIPTS) or why it saves
    # nothing (SAVES_NOTHING); the tests below then hold it to the rule.
    assert _quick_scripts() == set(SCRIPTS) | set(SAVES_NOTHING)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_the_script_routes_its_output_through_the_shared_rule(script: str) -> None:
    tree = _tree(script)
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and node.module == "benchmarks.output" for alias in node.names}
    assert imported & {"out_dir", "out_file"}, f"{script}: no import from benchmarks.output"
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Name) and node.func.id in imported]
    assert any(k.arg == "quick" for call in calls for k in call.keywords), script
    # A default on the flag would hide --quick's temporary folder: the rule supplies it.
    flag = _flags(tree)[f"--{SCRIPTS[script].flag}"]
    assert all(k.arg != "default" or (isinstance(k.value, ast.Constant) and k.value.value is None)
               for k in flag.keywords), f"{script}: --{SCRIPTS[script].flag} has a default"


@pytest.mark.parametrize("script", sorted(SAVES_NOTHING))
def test_a_script_that_saves_nothing_has_no_place_to_save(script: str) -> None:
    assert not {"--out", "--json"} & set(_flags(_tree(script))), SAVES_NOTHING[script]


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_a_quick_run_writes_to_a_new_temporary_folder(script: str) -> None:
    writes = SCRIPTS[script]
    paths = [_written(script, "--quick") for _ in range(2)]
    folders = [path if writes.flag == "out" else path.parent for path in paths]
    try:
        for path, folder in zip(paths, folders, strict=True):
            assert folder.parent == Path(tempfile.gettempdir())
            assert folder.name.startswith(f"mnist-hpo-{script}-quick-")
            assert not any(folder.iterdir())
            assert writes.flag == "out" or path.name == writes.file
        assert folders[0] != folders[1]
    finally:
        for folder in folders:
            _discard(folder)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_out_wins_and_a_full_run_keeps_its_default(script: str, tmp_path: Path) -> None:
    writes = SCRIPTS[script]
    target = tmp_path if writes.flag == "out" else tmp_path / writes.file
    for quick in (["--quick"], []):
        assert _written(script, *quick, f"--{writes.flag}", str(target)) == target
    assert _written(script) == Path(writes.default)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_a_quick_run_refuses_a_folder_holding_a_full_run(
        script: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    writes = SCRIPTS[script]
    path = tmp_path / writes.file
    published = ROOT / "docs/performance" / writes.file  # the real thing where there is one
    if published.exists():
        shutil.copyfile(published, path)
    else:
        path.write_text(json.dumps(FULL_RUN))
    before = path.read_bytes()
    target = tmp_path if writes.flag == "out" else path
    with pytest.raises(SystemExit) as exit_:
        _written(script, "--quick", f"--{writes.flag}", str(target))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"{path} holds a full run's results"), err
    assert path.read_bytes() == before
    # What its own quick run left is no full run: a quick rerun resumes it.
    path.write_text(json.dumps(QUICK_RUN))
    assert _written(script, "--quick", f"--{writes.flag}", str(target)) == target


def test_leaderboard_scale_quick_leaves_no_file(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks/leaderboard_scale.py"),
                           "--quick", "--trials", "20", "--repeats", "1"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "leaderboard of 20 trials" in proc.stdout
    assert not any(tmp_path.iterdir())
