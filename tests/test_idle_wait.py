"""The driver does not spin when no trial runs (search/tune/idle.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from ray.tune.experiment import Trial

from mnist_hpo.search.tune.idle import STEP_WAIT_S, IdleWait


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def trials(*statuses: str) -> list[Trial]:
    return [SimpleNamespace(status=s) for s in statuses]  # type: ignore[misc]


def step(wait: IdleWait, clock: FakeClock, took: float, states: list[Trial]) -> None:
    wait.on_step_begin(iteration=0, trials=states)
    clock.now += took
    wait.on_step_end(iteration=0, trials=states)


def test_a_quick_step_with_nothing_running_sleeps_out_rays_wait() -> None:
    clock = FakeClock()
    wait = IdleWait(clock=clock, sleep=clock.sleep)
    step(wait, clock, 0.002, trials(Trial.PAUSED, Trial.TERMINATED))
    assert clock.slept == [pytest.approx(STEP_WAIT_S - 0.002)]
    assert wait.slept == 1


def test_no_sleep_while_a_trial_runs_or_when_the_step_already_waited() -> None:
    clock = FakeClock()
    wait = IdleWait(clock=clock, sleep=clock.sleep)
    step(wait, clock, 0.001, trials(Trial.RUNNING, Trial.PAUSED))  # its result is an event
    step(wait, clock, STEP_WAIT_S, trials(Trial.PENDING))  # Ray waited for something
    wait.on_step_end(iteration=0, trials=trials(Trial.PAUSED))  # no begin seen: a restore
    assert clock.slept == [] and wait.slept == 0
