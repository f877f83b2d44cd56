"""Run the tests whose verdict once depended on the machine's speed, several times in a row,
beside busy processes: the check that they no longer do.

    python tests/under_load.py                 # 5 runs, 2 busy processes at niceness 15
    python tests/under_load.py --runs 1 --busy 0 -- -k resume

The busy processes run at niceness 15, the niceness Ray gives its trial workers
(``RAY_worker_niceness``), so trials and load share the cores as equals; at niceness 0 they
would starve the trials altogether, which measures nothing but patience. The tests are
those marked ``load`` in the suite. Each run's verdict and time are printed, and the script
exits 1 if any run failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: One core spun at full speed, forever, until killed.
SPIN = "while True: pass"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs in a row (default: 5)")
    parser.add_argument("--busy", type=int, default=2,
                        help="busy processes beside the tests (default: 2)")
    parser.add_argument("--niceness", type=int, default=15,
                        help="the busy processes' niceness (default: 15, as Ray's workers)")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments, after --")
    args = parser.parse_args(argv)

    busy = [subprocess.Popen(["nice", "-n", str(args.niceness), sys.executable, "-c", SPIN])
            for _ in range(args.busy)]
    verdicts = []
    try:
        for run in range(1, args.runs + 1):
            start = time.monotonic()
            proc = subprocess.run([sys.executable, "-m", "pytest", "-m", "load", "-q",
                                   "-p", "no:cacheprovider", *args.pytest_args],
                                  cwd=REPO, capture_output=True, text=True, check=False)
            taken = time.monotonic() - start
            summary = (proc.stdout.strip().splitlines() or ["(no output)"])[-1]
            verdicts.append(proc.returncode == 0)
            print(f"run {run}/{args.runs}: exit {proc.returncode}, {taken / 60:.1f} min, "
                  f"beside {args.busy} busy at niceness {args.niceness}: {summary}",
                  flush=True)
            if proc.returncode != 0:
                print(proc.stdout[-6000:], proc.stderr[-3000:], sep="\n", flush=True)
    finally:
        for p in busy:
            p.kill()
            p.wait()
    print(f"{sum(verdicts)} of {len(verdicts)} runs passed")
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
