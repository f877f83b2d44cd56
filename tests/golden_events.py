"""Golden decision traces: a search's decisions on scripted trial events, recorded as data.

Three parts, kept apart so that the rules of a search can move without the scripts moving:

- :class:`Decider`, the neutral interface: events in, decisions out. The world tells a
  decider that a trial started, reported an epoch, finished pausing, ended, that the driver
  was killed and resumed; it asks whether a new configuration may start (``suggest``),
  which waiting trial a free worker takes (``choose``), what to do with a result
  (``result``: CONTINUE, PAUSE or STOP) and whether the whole search stops (``stop_all``).
  Trials are named by the world (``t01``, ``t02``... in the order they were created).
- :class:`World`, the script: a scenario's trials (learning curves, parameter counts and
  epoch times from a seeded generator, so every run is the same) on ``workers`` CPU slots,
  driven in the order Ray 2.60's ``TuneController.step`` drives a search: ask the searcher
  for a configuration while none is pending, let the scheduler choose a trial to run, start
  trials on free workers, handle one event (the earliest epoch end or checkpoint saved),
  then ask the stoppers whether the search ends. It records every decision as one JSON
  object: the trace. Each result carries its epoch's ``time_this_iter_s`` (a start's
  milliseconds included in the first epoch after it), and a decider with a time budget
  runs its clocks on the world's time (``use_clock``).
- :class:`RaySearch`, the product's Ray adapters: the scheduler (``search/tune/
  scheduler.py``, the policy inside), the searcher (asking the scheduler whether a
  configuration may start) and the stoppers that ``factories.py`` builds from the real CLI
  flags, called as Ray's
  controller calls them, with Ray's own ``Trial`` objects and a stand-in for the controller
  (its trial list, its search generator's count, its ``stop_trial``). No Ray runtime.
- :class:`PolicySearch`, the adapter for the pure policy (``mnist_hpo.search.policy``):
  the events become its snapshot, its decisions these answers (``tests/
  test_policy_golden.py``). No Ray, no Optuna: the world needs a configuration's kind
  only, and the warm starts are the first trials.

A redesigned policy is checked by writing another adapter, e.g. one that turns the events
into its snapshot and its decisions into these answers, and running the very same
:class:`World` scenarios through it: ``World(scenario, decider).run()`` must give the stored
trace, entry for entry (``tests/test_golden_traces.py``). A decision changed on purpose is a
rewritten trace file and a line in the scenario's ``about``.

Trace entries (one decision each, except the world's own ``start`` and ``paused``):

- ``{"ask": "t05", "gate": "draw"}``: the searcher gave a configuration (``"warm start N"``
  for the Nth warm start); ``"held back"``: none now (recorded when the answer turns to it);
  ``"no more trials"``: ``--trials`` reached or the searcher finished.
- ``{"choose": "t03"}``: a free worker goes to paused ``t03``; ``"stopped": [...]``: paused
  trials the scheduler stopped instead (answers naming a trial already pending are not
  recorded: Ray starts pending trials anyway).
- ``{"result": "t03", "epoch": 1, "val": 0.97, "decision": "PAUSE"}`` (and ``"params"``
  in scenarios about costs): stoppers first, as Ray asks them, then the scheduler.
- ``{"start": "t03"}``, ``{"paused": "t03"}``: a worker started it; its pause's checkpoint
  was saved and its worker is free (between a PAUSE and this it still holds the worker).
- ``{"kill and resume": {...}}``: the driver killed and resumed; the status each unfinished
  trial comes back with (Ray re-adds every one PENDING; the scheduler may make it PAUSED).
- ``{"stop_all": true, "unfinished": {...}}``: the stoppers end the search; the trials cut,
  with their status and epochs. ``{"end": ...}``: the search ran out of work.
"""

from __future__ import annotations

import csv
import dataclasses
import heapq
import math
import pickle
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler
from ray.tune.search import ConcurrencyLimiter, Searcher

from mnist_hpo.search.cli.main import build_parser
from mnist_hpo.search.cli.search import settings_from_args
from mnist_hpo.search.policy import (
    Admission,
    Policy,
    Snapshot,
    TrialState,
    TrialView,
    policy_settings,
)
from mnist_hpo.search.tune.callbacks import TimeBudget
from mnist_hpo.search.tune.clock import BudgetClock
from mnist_hpo.search.tune.factories import make_run_config, make_tune_config, warm_start_points
from mnist_hpo.search.tune.searcher import OptunaSearcher
from mnist_hpo.search.tune.settings import METRIC, MODE, SearchSettings

HELD_BACK, NO_MORE = "held back", "no more trials"
CONTINUE, PAUSE, STOP = TrialScheduler.CONTINUE, TrialScheduler.PAUSE, TrialScheduler.STOP
PENDING, RUNNING, PAUSED, TERMINATED = Trial.PENDING, Trial.RUNNING, Trial.PAUSED, \
    Trial.TERMINATED


class Decider(Protocol):
    """The neutral interface between the world and the decisions."""

    #: New configurations the world keeps pending at most (Ray: 1, or ``--max-concurrent``
    #: when the searcher is wrapped in its ConcurrencyLimiter).
    max_pending: int

    def suggest(self, trial: str) -> str | None:
        """A configuration for a new trial named ``trial``: its kind (``"warm start 1"``,
        ``"draw"``), None (not now), or :data:`NO_MORE`."""

    def choose(self) -> tuple[str | None, list[str]]:
        """The trial a free worker should take (paused ones come back PENDING), and the
        paused trials stopped instead of waiting."""

    def start(self, trial: str) -> None:
        """A worker started ``trial`` (new, or resumed from its checkpoint)."""

    def result(self, trial: str, result: dict[str, Any]) -> str:
        """``trial`` reported an epoch: CONTINUE, PAUSE or STOP."""

    def paused(self, trial: str) -> None:
        """``trial``'s pause is done: its worker is free."""

    def ended(self, trial: str) -> None:
        """``trial`` ended after a STOP."""

    def stop_all(self) -> bool:
        """Whether the whole search stops now."""

    def resume(self, trials: Sequence[tuple[str, str]]) -> dict[str, str]:
        """The driver was killed and resumed: every trial as Ray re-adds it, ``(name,
        status)`` in Ray's order (TERMINATED, or PENDING if unfinished); returns the status
        each has once added."""


# -- the world ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """What a trial does when trained: val_accuracy after its 1st and last epoch, its
    parameters, milliseconds per epoch."""

    first: float
    last: float
    params: int
    epoch_ms: int

    def val(self, epoch: int, epochs: int) -> float:
        if epochs <= 1:
            return self.last
        gap = (self.last - self.first) * (1 - (1 - 0.5 ** (epoch - 1)) / (1 - 0.5 ** (epochs - 1)))
        return round(self.last - gap, 4)


#: The warm starts as measured (NOTES.md, asha.py): the seed network learns slowly at first;
#: its twin (batch norm, cosine decay) is a little slower per epoch and better.
SEED = Profile(0.9670, 0.9886, 887_530, 1000)
TWIN = Profile(0.9750, 0.9915, 888_426, 1150)
CHEAPEST = Profile(0.9550, 0.9780, 23_626, 500)  # a Pareto search's second warm start

START_MS, SAVE_MS = 100, 50  # a worker taking a trial on; a pause's checkpoint


def draw_profile(seed: int, number: int) -> Profile:
    """A drawn configuration's curve, fixed by the scenario's seed and the trial's number
    (so it does not depend on what was decided before): one in seven learns nothing."""
    rng = random.Random(seed * 10_007 + number)
    params = int(10 ** rng.uniform(4.3, 6.4))
    epoch_ms = 100 * rng.randint(5, 16)
    if rng.random() < 1 / 7:
        return Profile(0.1135, 0.1135, params, epoch_ms)
    last = rng.uniform(0.95, 0.993)
    return Profile(round(last - rng.uniform(0.004, 0.05), 4), round(last, 4), params, epoch_ms)


@dataclass(frozen=True)
class Scenario:
    """A search as a user runs it (``flags`` of ``mnist-hpo search``) on ``workers`` CPU
    slots; ``kill_after``: results reported before the driver is killed and resumed."""

    name: str
    flags: tuple[str, ...]
    about: str
    workers: int = 2
    seed: int = 0
    kill_after: int | None = None

    @property
    def costs(self) -> bool:
        """Whether results are recorded with their parameter count."""
        return any(f in self.flags for f in ("--objective", "--max-params"))

    @property
    def epochs(self) -> int:
        return int(self.flags[self.flags.index("--epochs") + 1])


@dataclass
class _Run:
    """The world's view of one trial."""

    profile: Profile
    status: str = PENDING
    done: int = 0  # epochs reported
    last_at: int = -1  # when it last reported (Ray re-adds restored trials latest first)


class World:
    """Ray's controller loop, on simulated time, for one scenario and one decider."""

    def __init__(self, scenario: Scenario, decider: Decider) -> None:
        self.scenario, self.decider = scenario, decider
        self.epochs = scenario.epochs
        self.warm = (SEED, CHEAPEST if "--objective" in scenario.flags else TWIN)
        self.runs: dict[str, _Run] = {}
        self.queue: list[str] = []  # PENDING trials, in the order a free worker takes them
        self.events: list[tuple[int, int, str, str]] = []  # (ms, seq, kind, trial)
        self.now = self.seq = self.results = 0
        self.no_more = self.held = self.killed = False
        self.trace: list[dict[str, Any]] = []
        self.took: dict[str, int] = {}  # ms of each trial's epoch in flight
        # A time budget's clocks (the stopper's, the scheduler's) run on the world's time.
        timed = getattr(decider, "use_clock", None)
        if timed is not None:
            timed(lambda: self.now / 1000)

    def run(self, max_steps: int = 5000) -> list[dict[str, Any]]:
        for _ in range(max_steps):
            if not self._step():
                return self.trace
            if self.decider.stop_all():
                self.trace.append({"stop_all": True, "unfinished": {
                    name: f"{run.status} at epoch {run.done}" for name, run in self.runs.items()
                    if run.status != TERMINATED}})
                return self.trace
            if self.results == self.scenario.kill_after and not self.killed:
                self._kill_and_resume()
        raise RuntimeError(f"{self.scenario.name}: no end after {max_steps} steps")

    def _step(self) -> bool:
        """One step of Ray's loop; False when nothing is left to happen."""
        for _ in range(2):  # a second look once the last trials have ended
            self._ask()
            self._choose()
            self._start()
            if self.events:
                break
        if not self.events:
            waiting = [n for n, r in self.runs.items() if r.status != TERMINATED]
            self.trace.append({"end": "every trial ended" if not waiting else
                               f"stalled: {', '.join(waiting)} wait, nothing runs"})
            return False
        self.now, _, kind, name = heapq.heappop(self.events)
        run = self.runs[name]
        if kind == "saved":
            run.status = PAUSED
            self.decider.paused(name)
            self.trace.append({"paused": name})
            return True
        run.done += 1
        run.last_at = self.now
        self.results += 1
        val = run.profile.val(run.done, self.epochs)
        result: dict[str, Any] = {
            "training_iteration": run.done, "epoch": run.done, METRIC: val,
            "params": run.profile.params, "done": run.done >= self.epochs,
            "time_this_iter_s": self.took.get(name, run.profile.epoch_ms) / 1000}
        decision = self.decider.result(name, result)
        entry: dict[str, Any] = {"result": name, "epoch": run.done, "val": val}
        if self.scenario.costs:
            entry["params"] = run.profile.params
        self.trace.append(entry | {"decision": decision})
        if decision == CONTINUE and run.done < self.epochs:
            self._after(run.profile.epoch_ms, "epoch", name)
        elif decision == PAUSE:
            self._after(SAVE_MS, "saved", name)  # it holds its worker until saved
        else:  # STOP, or the trainable's last epoch (Ray stops it on ``done``)
            run.status = TERMINATED
            self.decider.ended(name)
        return True

    def _ask(self) -> None:
        while not self.no_more and \
                sum(r.status == PENDING for r in self.runs.values()) < self.decider.max_pending:
            name = f"t{len(self.runs) + 1:02d}"
            kind = self.decider.suggest(name)
            if kind is None:
                if not self.held:
                    self.trace.append({"ask": name, "gate": HELD_BACK})
                self.held = True
                return
            self.held = False
            self.trace.append({"ask": name, "gate": kind})
            if kind == NO_MORE:
                self.no_more = True
                return
            number = len(self.runs) + 1
            warm = kind.startswith("warm start ")
            profile = self.warm[int(kind.split()[-1]) - 1] if warm else \
                draw_profile(self.scenario.seed, number)
            self.runs[name] = _Run(profile)
            self.queue.append(name)

    def _choose(self) -> None:
        chosen, stopped = self.decider.choose()
        for name in stopped:
            self.runs[name].status = TERMINATED
        resumed = chosen is not None and self.runs[chosen].status == PAUSED
        if resumed:
            assert chosen is not None
            self.runs[chosen].status = PENDING  # staged: its worker comes first
            self.queue.insert(0, chosen)
        if stopped or resumed:
            self.trace.append({"choose": chosen if resumed else None} |
                              ({"stopped": stopped} if stopped else {}))

    def _start(self) -> None:
        free = self.scenario.workers - sum(r.status == RUNNING for r in self.runs.values())
        self.queue = [n for n in self.queue if self.runs[n].status == PENDING]
        while free > 0 and self.queue:
            name = self.queue.pop(0)
            self.runs[name].status = RUNNING
            self.decider.start(name)
            self.trace.append({"start": name})
            self._after(START_MS + self.runs[name].profile.epoch_ms, "epoch", name)
            free -= 1

    def _after(self, ms: int, kind: str, name: str) -> None:
        if kind == "epoch":
            self.took[name] = ms  # an epoch after a start includes it, as Ray times steps
        self.seq += 1
        heapq.heappush(self.events, (self.now + ms, self.seq, kind, name))

    def _kill_and_resume(self) -> None:
        """The driver is killed: epochs in flight are lost; Ray re-adds every trial, the
        unfinished ones PENDING, to continue from their last epoch's checkpoint."""
        self.killed = True
        self.events.clear()
        for run in self.runs.values():
            if run.status != TERMINATED:
                run.status = PENDING
        order = sorted(self.runs, key=lambda n: self.runs[n].last_at, reverse=True)
        statuses = self.decider.resume([(n, self.runs[n].status) for n in order])
        for name, status in statuses.items():
            self.runs[name].status = status
        self.queue = [n for n in order if self.runs[n].status == PENDING]
        self.trace.append({"kill and resume": {n: statuses[n] for n in order
                                               if statuses[n] != TERMINATED}})


# -- the product's Ray adapters behind the interface -----------------------------------------


class _Trial(Trial):
    """Ray's ``Trial``, its records folder given directly (Ray derives ``path`` from a
    storage context)."""

    records: str | None = None

    @property
    def path(self) -> str | None:
        return self.records


class _SearchGenerator:
    """What Ray's ``SearchGenerator`` counts (trials created against ``--trials``), and the
    searcher it wraps (``searcher``: the scheduler hands it its admission)."""

    def __init__(self, total: int, searcher: Searcher) -> None:
        self.counter, self.total, self.finished = 0, total, False
        self.searcher = searcher

    def is_finished(self) -> bool:
        return self.counter >= self.total or self.finished


class _Controller:
    """What the schedulers read of Ray's ``TuneController`` and the ``stop_trial`` they may
    call, done as Ray does it for a waiting trial."""

    def __init__(self, search: RaySearch) -> None:
        self._search = search
        self.search_alg = search.generator
        self.stopped: list[str] = []

    def get_trials(self) -> list[Trial]:
        return list(self._search.trials.values())

    def stop_trial(self, trial: Trial) -> None:
        if trial.status in (PENDING, PAUSED):
            self._search.scheduler.on_trial_remove(self, trial)
            self._search.search_alg.on_trial_complete(trial.trial_id)
        trial.set_status(TERMINATED)
        self.stopped.append(trial.trial_id)


def settings_of(flags: Sequence[str]) -> SearchSettings:
    """``mnist-hpo search FLAGS`` → its settings, through the real CLI parser."""
    return settings_from_args(build_parser().parse_args(["search", "--name", "golden", *flags]))


class RaySearch:
    """The product's decisions, as ``factories.py`` builds them from the flags and Ray's
    controller calls them; ``folder``: the experiment folder (Optuna's journal, the trials'
    records, the searcher's checkpoint)."""

    def __init__(self, flags: Sequence[str], folder: Path) -> None:
        self.settings = settings_of(flags)
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        config = make_tune_config(self.settings, folder)
        self.searcher, self.scheduler = config.search_alg, config.scheduler
        # tuner.pkl: Ray pickles both in one file before the search starts; ``Tuner.restore``
        # brings that copy back (Ray never saves the scheduler again).
        self._tuner_pkl = pickle.dumps((self.searcher, self.scheduler))
        self._limit = config.max_concurrent_trials
        self.search_alg = self._wrap(self.searcher)
        self.scheduler.set_search_properties(METRIC, MODE)
        self.max_pending = self._limit or 1
        stop = make_run_config(self.settings, str(folder), []).stop
        assert stop is not None
        self.stopper = stop
        self.generator = _SearchGenerator(self.settings.trials, self.search_alg)
        self.trials: dict[str, Trial] = {}
        self.records: dict[str, list[dict[str, Any]]] = {}  # Ray's progress.csv, per trial
        self.controller = _Controller(self)
        self._warm = warm_start_points(self.settings)

    def _wrap(self, searcher: Searcher) -> Searcher:
        """Ray's ``tune.run``: ``max_concurrent_trials`` wraps the searcher."""
        return ConcurrencyLimiter(searcher, max_concurrent=self._limit) if self._limit \
            else searcher

    def use_clock(self, now: Callable[[], float]) -> None:
        """The time budget's stopper and the scheduler's clock on the world's time."""
        for stopper in getattr(self.stopper, "_stoppers", ()):
            if isinstance(stopper, TimeBudget):
                stopper.clock = now
        clock = getattr(self.scheduler, "_clock", None)
        if clock is not None:
            clock.now = now

    def suggest(self, trial: str) -> str | None:
        if self.generator.is_finished():
            return NO_MORE
        config = self.search_alg.suggest(trial)
        if config == Searcher.FINISHED:
            self.generator.finished = True
            return NO_MORE
        if config is None:
            return None
        self.generator.counter += 1
        self.trials[trial] = made = _Trial("golden", config=config, trial_id=trial, stub=True)
        self.records[trial] = []
        self.scheduler.on_trial_add(self.controller, made)
        warm = [i for i, point in enumerate(self._warm, start=1)
                if all(config.get(k) == v for k, v in point.items())]
        return f"warm start {warm[0]}" if warm else "draw"

    def choose(self) -> tuple[str | None, list[str]]:
        self.controller.stopped = []
        chosen = self.scheduler.choose_trial_to_run(self.controller)
        if chosen is not None and chosen.status == PAUSED:
            chosen.set_status(PENDING)  # Ray stages it
        return (None if chosen is None else chosen.trial_id), list(self.controller.stopped)

    def start(self, trial: str) -> None:
        self.trials[trial].set_status(RUNNING)

    def result(self, trial: str, result: dict[str, Any]) -> str:
        made, result = self.trials[trial], dict(result, trial_id=trial)
        # TuneController._process_trial_result: the stoppers and the trial's own ``done``
        # first; the scheduler only if neither stops it; the searcher unless stopped.
        if self.stopper(trial, result) or made.should_stop(result):
            decision = STOP
        else:
            decision = self.scheduler.on_trial_result(self.controller, made, result)
        if decision != STOP:
            self.search_alg.on_trial_result(trial, result)
        made.update_last_result(result)
        self.records[trial].append(result)
        return str(decision)

    def paused(self, trial: str) -> None:
        self.trials[trial].set_status(PAUSED)

    def ended(self, trial: str) -> None:
        made = self.trials[trial]
        self.scheduler.on_trial_complete(self.controller, made, made.last_result)
        self.search_alg.on_trial_complete(trial, result=made.last_result)
        made.set_status(TERMINATED)

    def stop_all(self) -> bool:
        return bool(self.stopper.stop_all())

    def resume(self, trials: Sequence[tuple[str, str]]) -> dict[str, str]:
        """What ``mnist-hpo resume`` gets back: the stoppers and the search generator's
        count (in Ray's experiment state), the searcher's checkpoint, each trial's records,
        and the searcher and scheduler as ``tuner.pkl`` holds them."""
        checkpoint = str(self.folder / "searcher.pkl")
        self.searcher.save(checkpoint)
        wrapper = self.search_alg.get_state() if self._limit else None
        self.stopper = pickle.loads(pickle.dumps(self.stopper))
        searcher, scheduler = pickle.loads(self._tuner_pkl)
        assert isinstance(searcher, OptunaSearcher)
        searcher.restore(checkpoint)
        self.searcher, self.scheduler = searcher, scheduler
        self.search_alg = self._wrap(searcher)
        if wrapper is not None:
            self.search_alg.set_state(wrapper)
        self.generator.searcher = self.search_alg
        self.scheduler.set_search_properties(METRIC, MODE)
        old, self.trials = self.trials, {}
        for name, status in trials:
            made = _Trial("golden", config=old[name].config, trial_id=name, stub=True)
            if self.records[name]:
                made.records = str(self._write_records(name))
                made.update_last_result(dict(self.records[name][-1]))
            made.set_status(status)
            self.trials[name] = made
            self.scheduler.on_trial_add(self.controller, made)  # Ray's add_trial
        return {name: made.status for name, made in self.trials.items()}

    def _write_records(self, trial: str) -> Path:
        folder = self.folder / "trials" / trial
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "progress.csv").open("w", newline="") as f:
            rows = csv.DictWriter(f, ["training_iteration", "epoch", METRIC, "params"],
                                  extrasaction="ignore")
            rows.writeheader()
            rows.writerows(self.records[trial])
        return folder


# -- the pure policy behind the interface ---------------------------------------------------

#: The policy's states as Ray's controller names them.
RAY_STATUS = {TrialState.PENDING: PENDING, TrialState.TRAINING: RUNNING,
              TrialState.PAUSED: PAUSED, TrialState.ENDED: TERMINATED}
STATE = {status: state for state, status in RAY_STATUS.items()}
#: What a result may carry that a cost limit or a Pareto rung reads.
COSTS = ("params", "file_bytes", "latency_ms_batch_1", "latency_ms_batch_256")


@dataclass
class _Record:
    """What the adapter knows of one trial: the facts a snapshot is made of."""

    number: int
    kept: bool
    state: TrialState = TrialState.PENDING
    epochs: int = 0
    scores: list[float] | None = None
    costs: dict[str, float] | None = None
    epoch_s: float | None = None

    def view(self, trial: str) -> TrialView:
        return TrialView(trial, self.number, self.state, self.epochs, tuple(self.scores or ()),
                         dict(self.costs or {}), self.kept, self.epoch_s)


class PolicySearch:
    """The pure policy, configured from the flags as ``policy_settings`` reads a search's
    settings, fed a snapshot of the world's trials at every question.

    Ray's own parts stay here, as Ray does them: the search generator's count against
    ``--trials``, the pending configurations a ConcurrencyLimiter allows (``max_pending``),
    the trial order (restored trials are re-added latest first). At a kill the policy comes
    back as pickled when the search began (Ray's ``tuner.pkl``) and rebuilds its rungs from
    the trials' records.
    """

    def __init__(self, flags: Sequence[str], folder: Path | None = None) -> None:
        self.settings = settings_of(flags)
        # As factories.workers says without Ray running: --max-concurrent, if given.
        self.rules = dataclasses.replace(policy_settings(self.settings),
                                         workers=self.settings.max_concurrent)
        self.policy = Policy(self.rules)
        self._tuner_pkl = pickle.dumps(self.policy)
        self._warm = len(warm_start_points(self.settings))
        # Ray's ConcurrencyLimiter lets ``--max-concurrent`` configurations wait at once;
        # under the promotion type, the policy limits itself and Ray keeps one pending.
        limited = self.settings.scheduler != "asha-promotion"
        self.max_pending = (self.settings.max_concurrent if limited else None) or 1
        self.trials: dict[str, _Record] = {}
        # A time budget's two clocks, as the Ray adapters have them: the stopper's, read at
        # each stop_all, and the scheduler's, read at each snapshot.
        budget = self.settings.time_budget_s
        self.stopper_clock = None if budget is None else BudgetClock(budget)
        self.clock = None if budget is None else BudgetClock(budget)

    def use_clock(self, now: Callable[[], float]) -> None:
        for clock in (self.stopper_clock, self.clock):
            if clock is not None:
                clock.now = now

    def snapshot(self) -> Snapshot:
        return Snapshot(tuple(record.view(name) for name, record in self.trials.items()),
                        searcher_finished=len(self.trials) >= self.settings.trials,
                        time_left_s=None if self.clock is None else self.clock.read())

    def suggest(self, trial: str) -> str | None:
        admission = self.policy.admit(self.snapshot())
        if admission is Admission.NO_MORE:
            return NO_MORE
        if admission is Admission.WAIT:
            return None
        number = len(self.trials) + 1
        warm = number <= self._warm  # Optuna asks the enqueued warm starts first
        self.trials[trial] = _Record(number, kept=warm and self.rules.keeps(number))
        return f"warm start {number}" if warm else "draw"

    def choose(self) -> tuple[str | None, list[str]]:
        choice = self.policy.choose(self.snapshot())
        for name in choice.stop:
            self.trials[name].state = TrialState.ENDED
        if choice.resume is not None:
            self.trials[choice.resume].state = TrialState.PENDING  # Ray stages it
        return choice.resume, list(choice.stop)

    def start(self, trial: str) -> None:
        self.trials[trial].state = TrialState.TRAINING

    def result(self, trial: str, result: dict[str, Any]) -> str:
        record = self.trials[trial]
        epoch = int(result["training_iteration"])
        scores = record.scores = (record.scores or [])[:]
        scores.extend([math.nan] * (epoch - len(scores)))
        scores[epoch - 1] = float(result.get(METRIC, math.nan))
        record.epochs = epoch
        record.costs = {k: float(result[k]) for k in COSTS if k in result}
        record.epoch_s = result.get("time_this_iter_s")
        return self.policy.on_result(self.snapshot(), trial).value

    def paused(self, trial: str) -> None:
        self.trials[trial].state = TrialState.PAUSED

    def ended(self, trial: str) -> None:
        self.policy.on_end(self.snapshot(), trial)
        self.trials[trial].state = TrialState.ENDED

    def stop_all(self) -> bool:
        out_of_time = self.stopper_clock is not None and self.stopper_clock.read() <= 0
        return self.policy.budget_reached(self.snapshot()) or out_of_time

    def resume(self, trials: Sequence[tuple[str, str]]) -> dict[str, str]:
        self.policy = pickle.loads(self._tuner_pkl)
        old, self.trials = self.trials, {}
        for name, status in trials:
            self.trials[name] = old[name]
            self.trials[name].state = STATE[status]
        states = self.policy.resumed(self.snapshot())
        for name, state in states.items():
            self.trials[name].state = state
        return {name: RAY_STATUS[state] for name, state in states.items()}
