"""The file and the table of ``benchmarks/ray_bookkeeping.py``: its cases saved as they
finish, reused by a rerun at the same scale, printed as markdown."""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.bookkeeping_workloads import RAY_STOCK, STACKS, WORKLOADS, Workload


def load_done(path: Path, specs: dict[str, Workload], space: dict[str, Any]
              ) -> list[dict[str, Any]]:
    """Cases saved by an earlier invocation at the same scale: the same workload spec and
    the same space definition (cases at another scale are dropped from the file)."""
    if not path.exists():
        return []
    saved = json.loads(path.read_text())
    kept = [case for case in saved.get("cases", [])
            if case["workload"] in specs and case["spec"] == asdict(specs[case["workload"]])
            and saved.get("space") == space]
    if len(kept) < len(saved.get("cases", [])):
        print(f"{path}: {len(saved['cases']) - len(kept)} case(s) at another scale or for "
              f"another space, not kept", flush=True)
    return kept


def save(path: Path, cases: list[dict[str, Any]], args: argparse.Namespace,
         space: dict[str, Any], info: dict[str, Any]) -> None:
    """Every case so far, written atomically (a kill leaves the last complete file)."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"args": vars(args), "space": space, "machine": info,
                               "cases": cases}, indent=1, default=str) + "\n")
    tmp.replace(path)


def case_round(case: dict[str, Any]) -> int:
    """The round a case ran in (0: the first; files saved before rounds have no key)."""
    return int(case.get("round", 0))


def table(cases: list[dict[str, Any]]) -> str:
    """The markdown table: each workload's cases in stack order, round by round, the ratio
    to Ray stock's whole-stack wall time in the same round of the same file."""
    rows = ["| stack | workload | fit s | whole stack s | minimum s | fit / min "
            "| whole × ray-fifo | first result s | most trials at once (s to all CPUs) "
            "| driver CPU ms / result | worker processes started | results | trials ended |",
            "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    rounds = sorted({case_round(c) for c in cases})
    for workload in WORKLOADS:
        for round_ in rounds:
            mine = {c["stack"]: c for c in cases
                    if c["workload"] == workload and case_round(c) == round_}
            label = workload if len(rounds) == 1 else f"{workload} round {round_ + 1}"
            rows += [_row(mine[stack], label, mine.get(RAY_STOCK))
                     for stack in STACKS if stack in mine]
    return "\n".join(rows)


def _row(c: dict[str, Any], label: str, base: dict[str, Any] | None) -> str:
    ratio = f"{c['stack_s'] / base['stack_s']:.2f}" if base else "-"
    cpu = c["driver_cpu_ms_per_result"]
    first, busy, most = (c.get(k) for k in ("first_result_s", "all_cpus_busy_s",
                                            "most_running"))
    at_once = "-" if most is None else str(most) if busy is None else f"{most} ({busy:.1f})"
    return (f"| {c['stack']} | {label} | {c['fit_s']:.1f} | {c['stack_s']:.1f} "
            f"| {c['minimum_s']:.1f} | {c['fit_over_minimum']:.2f} | {ratio} "
            f"| {'-' if first is None else f'{first:.1f}'} | {at_once} "
            f"| {'-' if cpu is None else f'{cpu:.2f}'} "
            f"| {c.get('worker_processes_started', '-')} | {c['results']:,} "
            f"| {c['trials_ended']:,} |")


def round_ratios(cases: list[dict[str, Any]]) -> list[str]:
    """For each workload and stack run in more than one round: its whole-stack wall time
    over stock Ray's, round by round (each against the stock run of its own round), and
    the median of those."""
    lines = []
    for workload in WORKLOADS:
        mine = [c for c in cases if c["workload"] == workload]
        base = {case_round(c): c["stack_s"] for c in mine if c["stack"] == RAY_STOCK}
        for stack in STACKS:
            ratios = [c["stack_s"] / base[case_round(c)]
                      for c in sorted(mine, key=case_round)
                      if c["stack"] == stack and case_round(c) in base]
            if stack == RAY_STOCK or len(ratios) < 2:
                continue
            lines.append(f"{workload}: {stack} × {RAY_STOCK} by round "
                         f"{', '.join(f'{r:.2f}' for r in ratios)}; median "
                         f"{statistics.median(ratios):.2f}")
    return lines


def print_profile(profiler: cProfile.Profile, where: Path, top: int = 15) -> None:
    """The driver's top functions by cumulative time, and the profile saved for snakeviz."""
    profiler.dump_stats(where)
    stats = pstats.Stats(profiler)
    stats.strip_dirs().sort_stats("cumulative").print_stats(top)
    print(f"wrote {where}", flush=True)


def rotated(stacks: list[str], by: int) -> list[str]:
    """``stacks`` starting at index ``by`` (mod its length), wrapping round."""
    k = by % len(stacks)
    return stacks[k:] + stacks[:k]
