"""The planned end of a time budget, in the pure policy: when it turns from breadth to the
finalists (from the time left, the measured epoch times and the workers), that no finalist
is cut, that the end comes near the budget, and that a resumed search plans with what was
left. Time is simulated: no clock in any verdict."""

from __future__ import annotations

import heapq
import pickle
from dataclasses import dataclass, field

import pytest

from mnist_hpo.search.policy import (
    Admission,
    Choice,
    Decision,
    Policy,
    PolicySettings,
    Snapshot,
    TrialState,
    TrialView,
)
from mnist_hpo.search.policy.budget import TimePlan, makespan
from mnist_hpo.search.policy.plan import EndPlan

P, T, W, E = TrialState.PENDING, TrialState.TRAINING, TrialState.PAUSED, TrialState.ENDED


def view(trial: str, state: TrialState, *scores: float, epoch_s: float | None = None,
         kept: bool = False) -> TrialView:
    return TrialView(trial, int(trial[1:]), state, len(scores), scores, {}, kept,
                     epoch_s=epoch_s)


def test_the_work_left_is_laid_out_on_the_workers() -> None:
    # Worker A is free now, B in 10 s: a new configuration's epoch (10 s) on A, then the
    # two finalists' 80 s each on whichever is free first.
    assert makespan([10.0], [10.0, 80.0, 80.0], workers=2) == 90.0
    # Finalists follow one another on a worker: three of 80 s on two workers take 160 s,
    # not 120 (which a count of trial-epochs would say), and two on four take 80, not 40.
    assert makespan([], [80.0] * 3, workers=2) == 160.0
    assert makespan([], [80.0] * 2, workers=4) == 80.0
    assert makespan([30.0, 5.0], [], workers=2) == 30.0


def plan(workers: int | None = 2, finalists: int = 2) -> EndPlan:
    return EndPlan(None, reserve=finalists * 8, finalists=finalists,
                   time=TimePlan(max_t=9, rungs=(1, 3), workers=workers))


def breadth(time_left: float, a_s: float = 10.0) -> Snapshot:
    """Two candidates paused at the first rung (a: 10 s per epoch unless said), a third
    configuration in its first epoch, not yet measured."""
    return Snapshot((view("t1", W, 0.97, epoch_s=a_s), view("t2", W, 0.96, epoch_s=10.0),
                     view("t3", T)), time_left_s=time_left)


FIRST = {"t1": 0.97, "t2": 0.96}


def test_breadth_goes_on_while_a_new_configuration_still_fits() -> None:
    # Busy: t3 to its first rung, 10 s (the mean measured). Then a new configuration's
    # 10 s, then t1 and t2 from epoch 1 to 9, 80 s each: on 2 workers they end at 90 s.
    estimate = plan().estimate(breadth(90.0), FIRST, set())
    assert estimate is not None and estimate.needed_s == 90.0
    assert estimate.epochs_left == pytest.approx(90.0 * 2 / 10.0)  # recorded, not the rule
    assert not plan().finishing(breadth(90.0), set(), first=FIRST)
    assert plan().finishing(breadth(89.9), set(), first=FIRST)


def test_the_switch_depends_on_the_workers() -> None:
    # Three finalists: t1, t2 and a trial still to come (8 epochs at the mean, 10 s). On
    # 4 workers they train side by side once t3 and the new configuration have reported
    # (the finalists are chosen only then): 10 + 80 s. On 2, the third follows: 170 s.
    wide, narrow = plan(workers=4, finalists=3), plan(workers=2, finalists=3)
    assert not wide.finishing(breadth(90.0), set(), first=FIRST)
    assert wide.finishing(breadth(89.9), set(), first=FIRST)
    assert not narrow.finishing(breadth(170.0), set(), first=FIRST)
    assert narrow.finishing(breadth(169.9), set(), first=FIRST)
    # Unknown workers: those training now (one), the plan errs early.
    assert plan(workers=None).finishing(breadth(169.9), set(), first=FIRST)


def test_the_switch_depends_on_the_finalists_epoch_times() -> None:
    # t1 at 20 s per epoch needs 160 s from its first rung. A new configuration is timed
    # as a slow one of those measured (20 s), t3, not measured yet, at the mean (15 s).
    estimate = plan().estimate(breadth(500.0, a_s=20.0), FIRST, set())
    assert estimate is not None and (estimate.epoch_s, estimate.new_epoch_s) == (15.0, 20.0)
    assert estimate.needed_s == 20.0 + 160.0
    assert plan().finishing(breadth(179.9, a_s=20.0), set(), first=FIRST)
    assert not plan().finishing(breadth(180.0, a_s=20.0), set(), first=FIRST)


def test_a_start_is_counted_once_per_trial_started() -> None:
    # 5 s to start a trial on a worker: t3 (in flight, not yet through its start), the new
    # configuration and each finalist resumed pay it once: 5 + 10, then 5 + 80 beside it.
    started = Snapshot(breadth(0.0).trials, time_left_s=100.0, start_s=5.0)
    estimate = plan().estimate(started, FIRST, set())
    assert estimate is not None and estimate.needed_s == 15.0 + 85.0
    # A finalist going on at its first rung, being decided now, needs no new start.
    going = plan().estimate(started, FIRST, set(), reporting="t1")
    assert going is not None and going.needed_s == 15.0 + 85.0  # t2 still pays its start


def test_nothing_measured_means_breadth_unless_the_time_is_up() -> None:
    start = Snapshot((view("t1", T), view("t2", T)), time_left_s=5.0)
    assert not plan().finishing(start, set(), first={})
    assert plan().finishing(Snapshot(start.trials, time_left_s=0.0), set(), first={})


def test_unfilled_finalist_slots_are_reserved_at_the_mean() -> None:
    # One candidate only: the second finalist is a trial still to come, 8 epochs at 10 s.
    alone = Snapshot((view("t1", W, 0.97, epoch_s=10.0),), time_left_s=90.0)
    estimate = plan().estimate(alone, {"t1": 0.97}, set())
    assert estimate is not None and estimate.needed_s == 90.0  # 10 + 80 beside 80


def test_a_finalist_that_cannot_be_trained_to_the_end_in_time_is_not_resumed() -> None:
    # 25 s left: t1 (the best, 10 s per epoch) would need 80 s and be cut; t2 needs 16 s.
    # The finalists stay what they are (the clock never changes them); t1 is left waiting.
    def waiting(left: float) -> Snapshot:
        return Snapshot((view("t1", W, 0.97, epoch_s=10.0), view("t2", W, 0.96, epoch_s=2.0)),
                        time_left_s=left)

    chosen = plan().chosen(waiting(25.0), FIRST)
    assert [f.id for f in chosen] == ["t1", "t2"]
    assert plan().trainable(waiting(25.0), chosen) == ["t2"]
    assert plan().is_finalist("t2", waiting(25.0), FIRST, set())  # t1 does not hold it back
    assert plan().trainable(waiting(500.0), chosen) == ["t1", "t2"]
    # The plan's record says so: t1 stays a finalist whose slot the end cannot fill.
    recorded = plan().report(waiting(25.0), FIRST, set(), finishing=True)
    assert [f.id for f in recorded.finalists] == ["t1", "t2"] and recorded.trainable == ("t2",)
    # Recorded right after t1 was told to pause at its first rung (the snapshot still shows
    # it training): judged as waiting, as it is about to be.
    reporting = Snapshot((view("t1", T, 0.97, epoch_s=10.0), view("t2", W, 0.96, epoch_s=2.0)),
                         time_left_s=25.0)
    assert plan().report(reporting, FIRST, set(), finishing=True).trainable == ("t1", "t2")
    assert plan().report(reporting, FIRST, {"t1"}, finishing=True).trainable == ("t2",)
    # One already past the first rung goes on whatever the estimate says.
    going = Snapshot((view("t1", T, 0.97, 0.98, epoch_s=10.0),), time_left_s=25.0)
    assert plan().trainable(going, plan().chosen(going, FIRST)) == ["t1"]


# -- a search on simulated time -------------------------------------------------------------


@dataclass
class _Trial:
    number: int
    kept: bool
    state: TrialState = P
    scores: list[float] = field(default_factory=list)
    took: float | None = None  # its last epoch's seconds, its start not included
    training: float = 0.0  # the seconds of the epoch in flight

    def view(self, name: str) -> TrialView:
        return TrialView(name, self.number, self.state, len(self.scores),
                         tuple(self.scores), {}, self.kept, epoch_s=self.took)


class Search:
    """A runner's loop on simulated time, as Ray 2.60 drives a search: the policy decides,
    trials train epochs of ``epoch_s(number)`` seconds, each (re)start on a worker takes
    ``START_S`` more before its first epoch, the budget ends the search whatever is in
    flight. The runner measures both, as the Ray adapter does."""

    START_S = 3.0
    MAX_T = 9

    def __init__(self, budget_s: float, workers: int = 2, finalists: int = 2,
                 warm_starts: int = 2) -> None:
        self.settings = PolicySettings(max_t=self.MAX_T, time_budget_s=budget_s,
                                       workers=workers, finalists=finalists)
        self.policy = Policy(self.settings)
        self.pickled = pickle.dumps(self.policy)  # Ray's tuner.pkl, as the search began
        self.budget, self.workers, self.warm = budget_s, workers, warm_starts
        self.now = 0.0
        self.trials: dict[str, _Trial] = {}
        self.events: list[tuple[float, str]] = []
        self.ended_at: dict[str, float] = {}
        self.cut: list[str] = []

    def epoch_s(self, number: int) -> float:
        return 8.0 + (number * 7) % 5  # 8 to 12 s

    def score(self, number: int, epoch: int) -> float:
        first = 0.90 + ((number * 37) % 97) / 1000
        return round(first + 0.01 * (1 - 0.5 ** (epoch - 1)), 4)

    def snapshot(self) -> Snapshot:
        return Snapshot(tuple(t.view(n) for n, t in self.trials.items()),
                        time_left_s=self.budget - self.now, start_s=self.START_S)

    def run(self, until: float | None = None) -> None:
        while True:
            self._ask()
            while self._start_one():  # Ray asks the scheduler while a worker is free
                self._ask()
            if not self.events:
                return  # nothing runs: the stopper ends the search when the time is up
            at, name = self.events[0]
            if until is not None and at > until:
                self.now = until  # killed: nothing is cut, the epochs in flight are lost
                return
            if at > self.budget:
                self.cut = [n for n, t in self.trials.items() if t.state is T]
                self.now = self.budget
                return
            heapq.heappop(self.events)
            self.now = at
            self._result(name)

    def kill_and_resume(self) -> None:
        """The driver is killed: the epochs in flight are lost; the policy comes back as
        pickled when the search began and rebuilds its memory from the records."""
        self.events.clear()
        for trial in self.trials.values():
            if trial.state is not E:
                trial.state = P
        self.policy = pickle.loads(self.pickled)
        for name, state in self.policy.resumed(self.snapshot()).items():
            self.trials[name].state = state

    def _ask(self) -> None:
        if any(t.state is P and not t.scores for t in self.trials.values()):
            return  # Ray keeps one new configuration pending
        if self.policy.admit(self.snapshot()) is Admission.START:
            number = len(self.trials) + 1
            self.trials[f"t{number}"] = _Trial(number, kept=number <= self.warm)

    def _start_one(self) -> bool:
        """A free worker takes the trial the policy resumes, else the pending new one."""
        if sum(t.state is T for t in self.trials.values()) >= self.workers:
            return False
        choice = self.policy.choose(self.snapshot())
        for name in choice.stop:
            self.trials[name].state = E
        pending = [n for n, t in self.trials.items() if t.state is P]
        name = choice.resume if choice.resume is not None else \
            next(iter(pending), None)
        if name is None:
            return False
        self.trials[name].state = T
        self._epoch(name, first=True)  # every start, new or resumed, pays its start
        return True

    def _epoch(self, name: str, first: bool = False) -> None:
        trial = self.trials[name]
        trial.training = self.epoch_s(trial.number) + (self.START_S if first else 0.0)
        heapq.heappush(self.events, (self.now + trial.training, name))

    def _result(self, name: str) -> None:
        trial = self.trials[name]
        trial.took = self.epoch_s(trial.number)  # as measured: the start apart
        trial.scores.append(self.score(trial.number, len(trial.scores) + 1))
        decision = self.policy.on_result(self.snapshot(), name)
        if decision is Decision.CONTINUE and len(trial.scores) < self.MAX_T:
            self._epoch(name)
        elif decision is Decision.PAUSE:
            trial.state = W
        else:
            self.policy.on_end(self.snapshot(), name)
            trial.state = E
            self.ended_at[name] = self.now

    def finalists(self) -> list[str]:
        report = self.policy.plan(self.snapshot())
        assert report is not None and report.phase == "finalists"
        return [f.id for f in report.finalists]


@pytest.mark.parametrize(("budget", "workers", "finalists"), [
    (300.0, 2, 2), (600.0, 2, 2), (1000.0, 2, 3), (450.0, 4, 2), (800.0, 3, 4)])
def test_no_finalist_is_cut_and_the_end_comes_near_the_budget(
        budget: float, workers: int, finalists: int) -> None:
    search = Search(budget, workers=workers, finalists=finalists)
    search.run()
    chosen = search.finalists()
    kept = [n for n, t in search.trials.items() if t.kept]
    assert len(chosen) == finalists  # the warm starts ended long before the turn
    for name in [*chosen, *kept]:
        assert len(search.trials[name].scores) == Search.MAX_T, (name, search.cut)
        assert search.ended_at[name] <= budget
    assert not set(chosen) & set(search.cut)
    # Breadth went on until the finalists' time: they end within two of the longest
    # epochs (an epoch in flight is counted whole; a new configuration is timed as a slow
    # one) and a start of the budget, not early by much.
    last = max(search.ended_at[name] for name in chosen)
    assert budget - 2 * 12.0 - Search.START_S <= last <= budget, (last, budget)
    # Every other trial waited at the first rung.
    others = [t for n, t in search.trials.items() if n not in chosen and not t.kept]
    assert others and all(len(t.scores) <= 1 for t in others)


@pytest.mark.parametrize("kill_at", [60.0, 200.0, 330.0])
def test_a_resumed_search_plans_with_what_was_left(kill_at: float) -> None:
    search = Search(400.0)
    search.run(until=kill_at)
    search.kill_and_resume()  # the time left goes on from kill_at
    search.run()
    chosen = search.finalists()
    for name in chosen:
        assert len(search.trials[name].scores) == Search.MAX_T, (kill_at, name)
        assert search.ended_at[name] <= 400.0
    assert not set(chosen) & set(search.cut)


def test_once_turned_no_new_configuration_starts() -> None:
    search = Search(300.0)
    search.run(until=200.0)
    snapshot = search.snapshot()
    report = search.policy.plan(snapshot)
    assert report is not None and report.phase == "finalists"
    assert search.policy.admit(snapshot) is Admission.WAIT
    # However long the time left looks later (a finalist's first epoch measured long, a
    # shorter one after), the plan holds: a new configuration would reach its first rung
    # too late to matter, and could take a finalist's worker.
    longer = Snapshot(snapshot.trials, time_left_s=10_000.0)
    assert search.policy.admit(longer) is Admission.WAIT


def test_with_no_configuration_left_the_others_are_stopped_after_the_finalists() -> None:
    """--trials reached long before the time: the finalists are trained to the end, then
    the trials waiting at the first rung stop, and the search ends early."""
    policy = Policy(PolicySettings(max_t=3, time_budget_s=10_000.0, workers=2))
    done = [view("t1", E, 0.97, 0.98, 0.99, epoch_s=5.0),
            view("t2", E, 0.96, 0.97, 0.98, epoch_s=5.0)]
    waiting = view("t3", W, 0.90, epoch_s=5.0)
    for v in (*done, waiting):
        policy.restored(v)
    snapshot = Snapshot((*done, waiting), searcher_finished=True, time_left_s=9_000.0)
    assert policy.choose(snapshot).stop == ("t3",)


def test_a_trial_that_cannot_reach_its_last_epoch_in_time_does_not_go_on() -> None:
    # t1 reports its first rung, 10 s per epoch, 4 epochs to go: with 30 s left it waits
    # (it would be cut); with 45 s it goes on.
    for left, decision in ((30.0, Decision.PAUSE), (45.0, Decision.CONTINUE)):
        policy = Policy(PolicySettings(max_t=5, time_budget_s=100.0, workers=1))
        snapshot = Snapshot((view("t1", T, 0.97, epoch_s=10.0),), time_left_s=left)
        assert policy.on_result(snapshot, "t1") is decision, left


def test_once_the_finalists_are_trained_new_configurations_use_the_workers() -> None:
    """Rather than idle; and Ray, with no trial left to run, would wait for the searcher
    and check no budget: the search would never end."""
    policy = Policy(PolicySettings(max_t=3, time_budget_s=100.0, workers=2))
    done = (view("t1", E, 0.97, 0.98, 0.99, epoch_s=5.0),
            view("t2", E, 0.96, 0.97, 0.98, epoch_s=5.0))
    for v in done:
        policy.restored(v)
    snapshot = Snapshot(done, time_left_s=3.0)  # not even a first epoch fits
    report = policy.plan(snapshot)
    assert report is not None and report.phase == "finalists"
    assert policy.admit(snapshot) is Admission.START


def test_finalist_slots_no_candidate_fills_go_to_new_configurations_trained_to_the_end(
        ) -> None:
    """A budget too short for breadth beside the finalists: the warm starts take both
    workers for ~100 s, and six finalists of 9 epochs do not fit in what is left, so the
    plan turns before any configuration has reported. Each worker the warm starts free
    takes a new configuration trained straight to its last epoch while one fits in the
    time left, rather than idling with the slots empty (a full-data hour with
    --finalists 6 left a worker idle for its last 40 minutes), and the finalists do not
    wait at their rungs for a configuration that takes an empty slot."""
    search = Search(260.0, workers=2, finalists=6)
    search.run()
    assert not search.cut
    drawn = {n: len(t.scores) for n, t in search.trials.items() if not t.kept}
    trained = sorted(n for n, epochs in drawn.items() if epochs == Search.MAX_T)
    assert trained == ["t3", "t4"], drawn  # one per worker; a third would not fit
    assert set(trained) <= set(search.finalists())
    assert all(search.ended_at[n] <= 260.0 for n in trained)
    # Once both had ended, the workers took a configuration rather than idle (the rule
    # before): it reached its first rung, no more.
    assert all(epochs <= 1 for n, epochs in drawn.items() if n not in trained), drawn


def _full_data_hour(left: float, t5: TrialView, t6: TrialView,
                    t3: TrialView | None = None) -> tuple[Policy, Snapshot]:
    """The planned end of a full-data hour on 2 cores (6 epochs, rungs 1 and 3, five
    finalists), as its records stood: the warm starts ended, t3 a finalist trained on,
    t4 and t5 waiting at the first rung, t6 (351 s an epoch) the best."""
    policy = Policy(PolicySettings(max_t=6, time_budget_s=3600.0, workers=2, finalists=5))
    views = (view("t1", E, 0.97, 0.99, 0.99, 0.99, 0.99, 0.99, epoch_s=118.0, kept=True),
             view("t2", E, 0.98, 0.99, 0.99, 0.99, 0.99, 0.99, epoch_s=131.0, kept=True),
             t3 or view("t3", E, 0.9786, 0.99, 0.99, 0.99, 0.99, 0.99, epoch_s=113.0),
             view("t4", W, 0.9484, epoch_s=195.0), t5, t6)
    for v in views:
        policy.restored(v)
    policy._turned = True  # the plan turned when t4 reported
    return policy, Snapshot(views, time_left_s=left, start_s=39.0)


def test_a_finalist_is_resumed_only_when_a_worker_is_free() -> None:
    """Ray asks the scheduler for a trial to run at every step, workers free or not, and
    keeps the one chosen waiting for the next worker freed. The hour's t5 was chosen with
    2,138 s left, both workers busy, and started 10 minutes later, when 1,536 s were left
    and it needed 1,700: the budget cut it; t4, chosen when t5 took that worker, started
    with 254 s left for its 1,000."""
    busy_t3 = view("t3", T, 0.9786, 0.9858, epoch_s=113.0)
    t5, t6 = view("t5", W, 0.9722, epoch_s=332.0), view("t6", T, 0.987, epoch_s=356.0)
    policy, snapshot = _full_data_hour(2138.0, t5, t6, t3=busy_t3)
    assert policy.choose(snapshot) == Choice()  # no worker free: nothing chosen
    # Once t3 ended, its worker is free, and the time left decides: t5 cannot be trained
    # to its last epoch in 1,536 s (39 + 5 × 332), t4 can (39 + 5 × 195).
    policy, snapshot = _full_data_hour(1536.0, t5, t6)
    assert policy.choose(snapshot) == Choice(resume="t4")


def test_a_finalist_past_its_first_rung_goes_on_rather_than_pause_and_resume() -> None:
    # t5 at its second rung with 883 s left needs 3 × 332: it would be cut, but a pause
    # would only cost it a restart, since a finalist past its first rung is resumed.
    t5 = view("t5", T, 0.9722, 0.9786, 0.98, epoch_s=332.0)
    t6 = view("t6", T, 0.987, 0.9864, 0.9872, 0.9894, epoch_s=356.0)
    policy, snapshot = _full_data_hour(883.0, t5, t6)
    assert policy.on_result(snapshot, "t5") is Decision.CONTINUE
