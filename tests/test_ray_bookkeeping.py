"""benchmarks/ray_bookkeeping.py: --quick runs its stacks on every workload to the end with sleeping
trials (no TensorFlow), and a rerun skips the cases already saved. Structure and counts
only: the figures come from full runs."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from benchmarks.ray_bookkeeping import (
    EXTRA,
    FIFO_STACKS,
    QUICK,
    STACKS,
    WORKLOADS,
    load_done,
    main,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_quick_runs_its_stacks_on_every_workload(mnist_path: Path, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "benchmarks/ray_bookkeeping.py", "--quick",
                           "--data", str(mnist_path), "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=850, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    saved = json.loads((tmp_path / "ray_bookkeeping.json").read_text())
    cases = {(c["workload"], c["stack"]): c for c in saved["cases"]}
    quick_stacks = [s for s in STACKS if s not in EXTRA]  # the extra rows are left out of --quick
    assert set(cases) == {(w, s) for w in WORKLOADS for s in quick_stacks}
    for (workload, stack), case in cases.items():
        spec = QUICK[workload]
        assert case["spec"] == asdict(spec)
        # Every trial ran and ended, none failed; the driver never imported TensorFlow.
        assert case["trials_ended"] == case["trials_reported"] == spec.trials, case
        assert case["trials_errored"] == case["errors"] == 0, case
        assert case["tensorflow_imported"] is False, case
        assert case["other_trainable_results"] == 0, case  # the product's trainable never ran
        if stack in FIFO_STACKS:
            assert case["results"] == spec.trials * spec.results, case
        else:  # ASHA stops trials; each reported at least once, none past the last result
            assert spec.trials <= case["results"] <= spec.trials * spec.results, case
        assert case["fit_s"] > 0 and case["stack_s"] >= case["fit_s"], case
        assert case["minimum_s"] > 0 and case["driver_cpu_ms_per_result"] > 0, case
        assert isinstance(case["worker_processes_started"], int), case
        if stack.startswith("mnist-hpo"):
            # The product's records say the search finished every trial, and its status
            # line and trial lines reached the (pseudo-)terminal.
            assert case["status"] == "finished" and case["recorded_trials"] == spec.trials
            assert case["terminal_bytes"] > 0, case
    # Each workload's stacks ran in another order: no stack always first.
    firsts = {c["stack"] for c in saved["cases"] if c["position"] == 0}
    # Ray's workers were counted: the trials' actors ran in processes it started.
    assert sum(c["worker_processes_started"] for c in saved["cases"]) > 0
    assert len(firsts) == len(WORKLOADS)
    assert "| stack | workload | fit s |" in proc.stdout
    assert all(f"| {stack} | throughput |" in proc.stdout for stack in quick_stacks)


def _case(workload: str, stack: str, **spec: Any) -> dict[str, Any]:
    return {"workload": workload, "stack": stack, "spec": asdict(QUICK[workload]) | spec,
            "position": 0, "fit_s": 2.5, "stack_s": 3.0, "minimum_s": 2.0,
            "fit_over_minimum": 1.25, "first_result_s": 0.5, "driver_cpu_ms_per_result": 4.0,
            "results": 40, "trials_ended": 40}


def test_a_rerun_skips_the_cases_saved_at_its_scale(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]
                                                    ) -> None:
    from mnist_hpo.spaces import load_space

    space = load_space("smoke").to_yaml_dict()
    path = tmp_path / "ray_bookkeeping.json"
    done = [_case(w, s) for w in WORKLOADS for s in STACKS]
    other_scale = _case("bookkeeping", "ray-fifo", trials=41)
    path.write_text(json.dumps({"args": {"quick": True}, "space": space,
                                "cases": [*done, other_scale]}))
    assert load_done(path, QUICK, space) == done  # the other scale's case is dropped
    assert load_done(path, QUICK, {**space, "epochs": 3}) == []  # another space: none

    # Every case is saved at this scale: nothing runs (no Ray is started), the table is
    # printed from the file.
    main(["--quick", "--space", "smoke", "--data", "unused.npz", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert f"{len(done)} case(s) already done, skipped" in out
    assert "| mnist-hpo | bookkeeping | 2.5 | 3.0 | 2.0 | 1.25 | 1.00 | 0.5 | - | 4.00 |" in out
    assert "; order " not in out  # no workload started


def test_rounds_are_saved_apart_and_each_ratio_is_to_its_own_rounds_stock_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mnist_hpo.spaces import load_space

    space = load_space("smoke").to_yaml_dict()
    path = tmp_path / "ray_bookkeeping.json"
    # Two rounds: stock Ray took 3 s then 6 s; mnist-hpo 3.3 s then 5.4 s (1.10, 0.90).
    cases = [_case(w, s) | {"round": r, "stack_s": 3.0 * (r + 1)}
             for w in WORKLOADS for s in STACKS for r in (0, 1)]
    for case in cases:
        if case["stack"] == "mnist-hpo" and case["workload"] == "bookkeeping":
            case["stack_s"] = (3.3, 5.4)[case["round"]]
    path.write_text(json.dumps({"args": {"quick": True}, "space": space, "cases": cases}))

    # Both rounds are saved: nothing runs; a third round would.
    main(["--quick", "--rounds", "2", "--space", "smoke", "--data", "unused.npz",
          "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert f"{len(cases)} case(s) already done, skipped" in out and "; order " not in out
    assert "| mnist-hpo | bookkeeping round 1 | 2.5 | 3.3 | 2.0 | 1.25 | 1.10 |" in out
    assert "| mnist-hpo | bookkeeping round 2 | 2.5 | 5.4 | 2.0 | 1.25 | 0.90 |" in out
    assert "bookkeeping: mnist-hpo × ray-fifo by round 1.10, 0.90; median 1.00" in out


def test_rounds_must_be_one_or_more(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--quick", "--rounds", "0", "--data", "unused.npz"])
    assert exit_.value.code == 2
    assert "--rounds: 0 is not a number of rounds; give 1 or more" in capsys.readouterr().err


def test_each_round_starts_with_another_stack_and_saved_cases_are_skipped() -> None:
    from benchmarks.ray_bookkeeping import parse_args, planned

    args = parse_args(["--quick", "--rounds", "2", "--stacks", "ray-fifo,mnist-hpo",
                       "--data", "unused.npz", "--out", "unused"])
    done = {("bookkeeping", "ray-fifo", 1)}
    assert list(planned(args, QUICK, done)) == [
        ("bookkeeping", 0, ["ray-fifo", "mnist-hpo"]),
        ("bookkeeping", 1, ["mnist-hpo"]),  # round 2 started with mnist-hpo; stock is saved
        ("throughput", 0, ["mnist-hpo", "ray-fifo"]),
        ("throughput", 1, ["ray-fifo", "mnist-hpo"])]
    # Only the chosen workloads; a profile runs (and saves) everything again.
    args = parse_args(["--quick", "--workloads", "throughput", "--stacks", "ray-fifo",
                       "--profile", "--data", "unused.npz", "--out", "unused"])
    assert list(planned(args, QUICK, {("throughput", "ray-fifo", 0)})) == [
        ("throughput", 0, ["ray-fifo"])]
