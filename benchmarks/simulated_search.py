"""A search at scale in simulated time: does the driver keep up with 1,000 workers?

The product's own scheduling policy (``mnist_hpo.search.policy``, configured by
``policy_settings`` as ``mnist-hpo search`` configures it: ``default`` space, 9 epochs,
promotion-type ASHA) and its own sampler (``make_searcher``: Optuna TPE behind the prior
and the warm starts, in memory) run a search of ``--trials`` configurations on ``--workers``
simulated workers. Trials replay real learning curves (``benchmarks/curve_pool.py``), so a
10,000-trial search on 1,000 workers costs the driver's decisions and nothing else, the way
Syne Tune's simulator backend replays tabulated curves (``benchmarks/simulator.py`` says
what is simulated and what is not).

Measured per case: each driver call's real CPU time (``time.process_time``), by kind: the
sampler's ``suggest``; the policy's ``admit``, ``choose``, ``on_result``, ``on_end`` and
``budget_reached`` (each with the snapshot it is asked with, also shown apart); the
searcher told a result or an end. Mean, p50, p99, and the mean while the first and the last
10 % of the trials are created; the exponent of the mean's growth with the trials created
(log-log across ``--trials`` cases, and least squares over deciles within a run: all ten,
and from the 2nd on, the reading within the largest case beside the one across cases); the busy
fraction, driver CPU seconds over the search's simulated seconds (above 1, the driver could
not keep up with the workers); the search's best val_accuracy against the pool's best; and
a cProfile of 1 in ``--profile-every`` of the driver's calls, drawn at random: those calls
are left out of the time statistics, and the totals count them at the others' mean.

Resumable: each finished (workers, trials) case is written to ``OUT/simulated_search.json``
at once, and a rerun at the same settings skips it.

    python benchmarks/simulated_search.py --quick                       # ~10 s
    python benchmarks/simulated_search.py --workers 100,1000 --trials 1000,10000
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.curve_pool import CurvePool, EpochCost, fingerprint, load_pool
from benchmarks.driver_clock import Clock
from benchmarks.machine import code_version, machine
from benchmarks.output import out_dir
from benchmarks.simulated_report import (
    GROUPS,
    PARTS,
    exponents,
    exponents_within,
    plot,
    profile_top,
    report,
    timing,
)
from benchmarks.simulator import Simulation

EPOCHS = 9  # the recorded curves' length
FULL = {"workers": "100,1000", "trials": "1000,10000"}
QUICK = {"workers": "20", "trials": "100,300"}
RESULTS = "simulated_search.json"
#: Settings a saved case must share to be reused.
SAME = ("seed", "epochs", "space", "epoch_budget", "profile_every", "pool", "cost_model")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help=f"{QUICK['workers']} workers, {QUICK['trials']} trials, written to a "
                        "new temporary folder unless --out is given")
    p.add_argument("--out", help="folder for simulated_search.json and the figure "
                                 "(default: docs/performance)")
    p.add_argument("--workers", help=f"comma-separated (default: {FULL['workers']})")
    p.add_argument("--trials", help=f"comma-separated (default: {FULL['trials']})")
    p.add_argument("--seed", type=int, default=0, help="the sampler's and the replay's seed")
    p.add_argument("--epoch-budget", type=int, default=None,
                   help="trial-epochs; the policy plans the end (default: none, the search "
                        "ends when its trials have)")
    p.add_argument("--profile-every", type=int, default=10,
                   help="profile 1 in this many of the driver's calls, drawn at random "
                        "(default: 10; 0: never)")
    args = p.parse_args(argv)
    scale = QUICK if args.quick else FULL
    try:
        args.workers = [int(w) for w in (args.workers or scale["workers"]).split(",")]
        args.trials = [int(t) for t in (args.trials or scale["trials"]).split(",")]
    except ValueError:
        p.error("--workers and --trials take comma-separated whole numbers, e.g. 100,1000")
    if min(args.workers + args.trials) < 1 or args.profile_every < 0:
        p.error("--workers and --trials must be at least 1, --profile-every at least 0")
    # A quick run never writes over the published figures (benchmarks/output.py).
    args.out = str(out_dir(args.out, quick=args.quick, default="docs/performance",
                           name="simulated_search", files=(RESULTS,)))
    return args


def run_case(workers: int, trials: int, args: argparse.Namespace, pool: CurvePool,
             cost: EpochCost) -> dict[str, Any]:
    """One simulated search, with the product's policy and searcher built as
    ``mnist-hpo search --trials TRIALS --epochs 9`` builds them."""
    from mnist_hpo.search.policy import Policy, policy_settings
    from mnist_hpo.search.tune.factories import make_searcher, warm_start_points
    from mnist_hpo.search.tune.searcher import OptunaSearcher
    from mnist_hpo.search.tune.settings import SearchSettings
    from mnist_hpo.spaces import load_space

    settings = SearchSettings(space=load_space("default"), name="simulated", trials=trials,
                              epochs=EPOCHS, epoch_budget=args.epoch_budget, seed=args.seed)
    rules = policy_settings(settings)
    kept = [p for n, p in enumerate(warm_start_points(settings), start=1) if rules.keeps(n)]
    searcher = make_searcher(settings, experiment_dir=None)
    if not isinstance(searcher, OptunaSearcher):  # the admission is OptunaSearcher's
        raise TypeError(f"make_searcher built a {type(searcher).__name__}, not the "
                        f"OptunaSearcher `mnist-hpo search` runs")
    clock = Clock(args.profile_every)

    def replay(number: int, config: Any) -> tuple[Sequence[float], float]:
        return pool.nearest(config, number).curve, cost(config)

    sim = Simulation(Policy(rules), searcher, replay, workers=workers, trials=trials,
                     kept=kept, clock=clock)
    start = time.perf_counter()
    outcome = sim.run()
    wall = time.perf_counter() - start
    decisions = {name: timing(clock, kinds, trials) for name, kinds in GROUPS.items()}
    kinds = {kind: timing(clock, (kind,), trials, buckets=False)
             for kind in (*GROUPS["all"], *PARTS) if kind in clock.samples}
    cpu = decisions["all"]["total_s"]
    return {"workers": workers, "trials": trials, "trials_created": outcome.trials,
            "epochs_trained": outcome.epochs,
            "simulated_s": outcome.simulated_s, "max_busy_workers": outcome.max_busy,
            "budget_reached": outcome.budget_reached, "unfinished": outcome.unfinished,
            "best_val": outcome.best_val, "pool_best": pool.best,
            "best_config": dict(sim.trials[outcome.best_trial].config),
            "driver_cpu_s": cpu, "busy_fraction": cpu / outcome.simulated_s,
            "wall_s": wall, "decisions": decisions, "kinds": kinds,
            "profile": profile_top(clock), "commit": code_version(),
            "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}


def settings_of(args: argparse.Namespace, pool_print: str) -> dict[str, Any]:
    from mnist_hpo.spaces import load_space

    return {"seed": args.seed, "epochs": EPOCHS, "space": load_space("default").to_yaml_dict(),
            "epoch_budget": args.epoch_budget, "profile_every": args.profile_every,
            "pool": pool_print, "cost_model": EpochCost.described()}


def load_done(path: Path, settings: dict[str, Any]) -> list[dict[str, Any]]:
    """Cases saved by an earlier run at the same settings (all of them, whatever
    ``--workers`` and ``--trials`` say now)."""
    if not path.exists():
        return []
    saved = json.loads(path.read_text())
    if any(saved.get("settings", {}).get(k) != settings[k] for k in SAME):
        print(f"{path}: written at other settings; starting afresh", flush=True)
        return []
    return list(saved["cases"])


def save(path: Path, settings: dict[str, Any], cases: list[dict[str, Any]],
         pool: CurvePool, quick: bool) -> None:
    """All cases so far, written atomically (a kill leaves the last complete file)."""
    cases.sort(key=lambda c: (c["workers"], c["trials"]))
    body = {"quick": quick, "settings": settings, "machine": machine(),
            "pool": {"curves": len(pool.recorded), "best": pool.best, "replay": pool.RULE},
            "exponents": exponents(cases), "exponents_within": exponents_within(cases),
            "cases": cases}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(body, indent=1, default=str) + "\n")
    tmp.replace(path)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the cases not saved yet, then print the table and draw the figure."""
    args = parse_args(argv)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # a line per trial otherwise
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    logging.getLogger("ray").setLevel(logging.WARNING)
    from mnist_hpo.spaces import load_space

    recorded = load_pool(epochs=EPOCHS)
    pool = CurvePool(recorded, load_space("default"), seed=args.seed)
    cost = EpochCost()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / RESULTS
    settings = settings_of(args, fingerprint(recorded))
    cases = load_done(path, settings)
    done = {(c["workers"], c["trials"]) for c in cases}
    print(f"{len(recorded)} recorded curves of {EPOCHS} epochs (best {pool.best:.4f}), "
          f"replayed by the {pool.RULE}; {cost.described()['rule']}; writing to {path}",
          flush=True)
    fresh = []
    for workers in args.workers:
        for trials in args.trials:
            if (workers, trials) in done:
                print(f"{workers} workers × {trials} trials: saved, skipped", flush=True)
                continue
            case = run_case(workers, trials, args, pool, cost)
            cases.append(case)
            fresh.append((workers, trials))
            save(path, settings, cases, pool, args.quick)  # resumable from here
            print(f"{workers} workers × {trials} trials: {case['wall_s']:.1f} s wall, "
                  f"busy {case['busy_fraction']:.3f}, best {case['best_val']:.4f}", flush=True)
    print()
    report(cases, fresh)
    plot(cases, out)
    print(f"\nwrote {path} and {out / 'simulated_search.png'}")


if __name__ == "__main__":
    main()
