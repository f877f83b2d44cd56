"""benchmarks/simulated_search.py: the simulated search runs its cases and saves them once;
its engine handles events in time order, frees a paused trial's worker, never holds more
than its workers, ends on the trial count or the epoch budget, and replays the nearest
recorded curve."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from benchmarks.curve_pool import SEED_EPOCH_S, CurvePool, EpochCost, Recorded, load_pool
from benchmarks.driver_clock import Clock
from benchmarks.simulated_search import main, parse_args, run_case
from benchmarks.simulator import Event, Simulation
from mnist_hpo.search.policy import Policy, PolicySettings, Rule, TrialState
from mnist_hpo.spaces import load_space, resolve_config

LOW, HIGH = (0.5, 0.6, 0.7), (0.9, 0.95, 0.97)


class Draws:
    """A sampler that hands out ``configs`` in turn and records what it is told."""

    def __init__(self, configs: Sequence[Mapping[str, Any]]) -> None:
        self.configs = list(configs)
        self.admission: Any = None
        self.asked = 0
        self.results: list[tuple[str, int]] = []
        self.completed: list[str] = []

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.admission is not None and not self.admission():
            return None
        config = dict(self.configs[self.asked % len(self.configs)])
        self.asked += 1
        return config

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        self.results.append((trial_id, result["training_iteration"]))

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None,
                          error: bool = False) -> None:
        self.completed.append(trial_id)


def replay(number: int, config: Mapping[str, Any]) -> tuple[Sequence[float], float]:
    return config["curve"], config["epoch_s"]


def simulate(configs: Sequence[Mapping[str, Any]], *, workers: int, trials: int,
             **rules: Any) -> tuple[Simulation, Draws]:
    settings = PolicySettings(rule=Rule.PROMOTION, max_t=3, grace_period=1,
                              reduction_factor=3, **rules)
    draws = Draws(configs)
    sim = Simulation(Policy(settings), draws, replay, workers=workers, trials=trials,
                     trace=True)
    return sim, draws


def varied(n: int) -> list[dict[str, Any]]:
    """``n`` configurations of unequal curves and epoch times."""
    return [{"curve": tuple(v - 0.01 * (i % 7) for v in HIGH), "epoch_s": 1.0 + (i * 37) % 11}
            for i in range(n)]


def events(sim: Simulation) -> list[Event]:
    assert sim.events is not None
    return sim.events


def test_events_are_handled_in_time_order() -> None:
    sim, _ = simulate(varied(40), workers=3, trials=40)
    outcome = sim.run()
    times = [e.time for e in events(sim)]
    assert times == sorted(times)
    assert outcome.simulated_s == times[-1] > 0
    assert outcome.epochs == sum(e.what == "result" for e in events(sim))


def test_a_paused_trial_frees_its_worker() -> None:
    # One worker: the first trial is alone at rung 1, not in its top third, so it pauses,
    # and the worker takes the next configuration at that very moment.
    sim, _ = simulate([{"curve": LOW, "epoch_s": 5.0}, {"curve": HIGH, "epoch_s": 5.0}],
                      workers=1, trials=6)
    sim.run()
    trace = events(sim)
    pause = next(i for i, e in enumerate(trace) if e.what == "pause")
    assert trace[pause].trial == "t00001" and trace[pause].busy == 0
    after = trace[pause + 1]
    assert (after.what, after.trial, after.time, after.busy) == \
        ("start", "t00002", trace[pause].time, 1)


def test_workers_never_exceed_their_number() -> None:
    sim, _ = simulate(varied(60), workers=4, trials=60)
    outcome = sim.run()
    assert max(e.busy for e in events(sim)) == outcome.max_busy == 4
    assert all(t.state is TrialState.ENDED for t in sim.trials.values())


def test_the_trial_count_ends_the_search() -> None:
    sim, draws = simulate(varied(5), workers=3, trials=7)
    outcome = sim.run()
    assert outcome.trials == len(sim.trials) == draws.asked == 7
    assert not outcome.budget_reached and outcome.unfinished == 0
    assert sorted(draws.completed) == sorted(sim.trials)  # every trial told it ended, once
    assert all(t.state is TrialState.ENDED for t in sim.trials.values())


def test_the_epoch_budget_ends_the_search() -> None:
    sim, _ = simulate(varied(50), workers=2, trials=50, epoch_budget=10)
    outcome = sim.run()
    assert outcome.budget_reached
    assert outcome.epochs == 10
    assert outcome.unfinished == sum(t.state is not TrialState.ENDED
                                     for t in sim.trials.values()) > 0


def test_a_configuration_replays_the_nearest_recorded_curve() -> None:
    space = load_space("default")
    base = {k: v for k, v in resolve_config({}).items() if k in space.searched}
    bn = base | {"batch_norm": True}
    pool = CurvePool([Recorded(base, LOW, "base"), Recorded(bn, HIGH, "bn")], space)
    share = 1 / len(space.searched)
    assert pool.distance(base, base) == 0
    assert pool.distance(base, bn) == pytest.approx(share)  # a category differs: 1
    assert pool.distance(base, base | {"rotation": 20.0}) == pytest.approx(share / 2)
    assert pool.nearest(base | {"rotation": 19.0}, 1).source == "base"
    assert pool.nearest(bn | {"rotation": 19.0}, 1).source == "bn"
    assert pool.best == max(HIGH)


def test_ties_between_recordings_are_drawn_by_seed_and_trial() -> None:
    space = load_space("default")
    base = {k: v for k, v in resolve_config({}).items() if k in space.searched}
    pool = CurvePool([Recorded(base, LOW, "a"), Recorded(base, HIGH, "b")], space, seed=3)
    drawn = [pool.nearest(base, n).source for n in range(1, 41)]
    assert drawn == [pool.nearest(base, n).source for n in range(1, 41)]  # deterministic
    assert set(drawn) == {"a", "b"}


def test_the_recorded_pool_and_the_epoch_cost() -> None:
    pool = load_pool()
    assert len(pool) > 100
    assert all(len(r.curve) == 9 for r in pool)
    cost = EpochCost()
    assert cost(resolve_config({})) == pytest.approx(SEED_EPOCH_S)
    assert cost({"batch_size": 256}) < SEED_EPOCH_S  # fewer steps, same network


def test_the_clock_counts_a_call_inside_another_as_its_own_kind() -> None:
    clock = Clock(profile_every=1)
    assert clock.call("outer", lambda: clock.call("inner", lambda: 7) + 1) == 8
    assert {kind: len(s.seconds) for kind, s in clock.samples.items()} == \
        {"outer": 1, "inner": 1}
    assert (clock.calls, clock.calls_profiled) == (1, 1)  # the driver made one call
    unprofiled = Clock()
    unprofiled.call("outer", lambda: None)
    assert (unprofiled.calls_profiled, unprofiled.profile) == (0, None)


def test_a_case_is_the_same_search_given_the_seed(tmp_path: Path) -> None:
    args = parse_args(["--quick", "--out", str(tmp_path)])
    space = load_space("default")
    pool, cost = CurvePool(load_pool(), space, seed=args.seed), EpochCost()
    first, second = (run_case(8, 30, args, pool, cost) for _ in range(2))
    keys = ("epochs_trained", "simulated_s", "best_val", "best_config", "max_busy_workers")
    assert [first[k] for k in keys] == [second[k] for k in keys]


def test_quick_mode_saves_every_case_and_a_rerun_skips_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["--quick", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "simulated_search.json").read_text())
    cases = {(c["workers"], c["trials"]): c for c in saved["cases"]}
    assert set(cases) == {(20, 100), (20, 300)}
    for (workers, trials), case in cases.items():
        assert case["trials_created"] == trials and case["unfinished"] == 0
        assert case["max_busy_workers"] == workers
        assert 0 < case["best_val"] <= case["pool_best"]
        assert case["busy_fraction"] > 0
        assert {"sampler", "policy", "tell", "all"} <= set(case["decisions"])
        assert case["decisions"]["sampler"]["count"] >= trials
        assert case["profile"]["top"]
    assert saved["exponents"]["20"]["trials"] == [100, 300]
    assert (tmp_path / "simulated_search.png").stat().st_size > 0
    assert "| workers | trials |" in capsys.readouterr().out

    main(["--quick", "--out", str(tmp_path)])
    assert capsys.readouterr().out.count("saved, skipped") == 2
    again = json.loads((tmp_path / "simulated_search.json").read_text())
    assert [c["finished"] for c in again["cases"]] == [c["finished"] for c in saved["cases"]]
