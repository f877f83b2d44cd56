"""The pure policy's rules on small hand-made snapshots: no Ray, no Optuna, no TensorFlow."""

from __future__ import annotations

import math
import pickle
import random
from dataclasses import dataclass, field

import numpy as np
import pytest

from mnist_hpo.search.policy import (
    Admission,
    Choice,
    Decision,
    Policy,
    PolicySettings,
    Rule,
    Snapshot,
    TrialState,
    TrialView,
    policy_settings,
    rungs,
)
from mnist_hpo.search.policy.asha import Rung
from mnist_hpo.search.policy.pareto import goes_on
from mnist_hpo.search.policy.rungs import percentile

P, T, W, E = TrialState.PENDING, TrialState.TRAINING, TrialState.PAUSED, TrialState.ENDED


def view(trial: str, state: TrialState, *scores: float, kept: bool = False,
         params: float | None = None) -> TrialView:
    return TrialView(trial, int(trial[1:]), state, len(scores), scores,
                     {} if params is None else {"params": params}, kept)


def snap(*views: TrialView, finished: bool = False) -> Snapshot:
    return Snapshot(views, searcher_finished=finished)


# -- rungs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("max_t", "grace", "eta", "expected"), [
    (9, 1, 3, (1, 3)), (5, 1, 3, (1, 3)), (3, 1, 3, (1,)), (1, 1, 3, ()),
    (100, 1, 4, (1, 4, 16, 64)), (10, 2, 2, (2, 4, 8)), (9, 1, 2.5, (1, 3, 7)),
])
def test_rungs_are_the_epochs_at_or_past_each_milestone_below_the_last(
        max_t: int, grace: int, eta: float, expected: tuple[int, ...]) -> None:
    assert rungs(max_t, grace, eta) == expected


@pytest.mark.parametrize(("max_t", "grace", "eta"), [
    (9, 1, 3), (27, 1, 3), (12, 2, 2), (50, 1, 2.5), (100, 3, 4), (7, 1, 1.5)])
def test_rungs_judge_where_rays_bracket_judges(max_t: int, grace: int, eta: float) -> None:
    """Ray 2.60's ``_Bracket``: milestones ``grace × η^k``, k < int(log(max_t/grace)/log η
    + 1); a result is judged once its epoch reaches one; at ``max_t`` a trial has ended."""
    count = int(np.log(max_t / grace) / np.log(eta) + 1)
    judged = {next(e for e in range(1, max_t + 1) if e >= grace * eta ** k)
              for k in range(count)}
    assert rungs(max_t, grace, eta) == tuple(sorted(e for e in judged if e < max_t))


def test_rungs_name_a_bad_input() -> None:
    with pytest.raises(ValueError, match=r"reduction_factor > 1.*reduction_factor=1"):
        rungs(9, 1, 1)
    with pytest.raises(ValueError, match=r"grace_period <= max_t.*grace_period=4"):
        rungs(3, 4, 3)


def test_the_cutoff_is_numpys_nanpercentile_to_the_last_bit() -> None:
    rng = random.Random(0)
    for _ in range(2000):
        n = rng.randint(1, 12)
        values = [rng.choice([0.1135, 0.95, 0.97]) if rng.random() < 0.3 else
                  round(rng.uniform(0.9, 0.99), rng.choice([2, 4, 8])) for _ in range(n)]
        if rng.random() < 0.1:
            values.append(math.nan)
        q = (1 - 1 / rng.choice([2, 3, 4, 2.5, 1.7])) * 100
        assert percentile(values, q) == float(np.nanpercentile(values, q)), (values, q)
    assert math.isnan(percentile([], 50)) and math.isnan(percentile([math.nan], 50))


# -- the stopping rule (Ray's ASHA) ---------------------------------------------------------


def stopping(**changes: object) -> Policy:
    return Policy(PolicySettings(**{"rule": Rule.STOPPING, "max_t": 9} | changes))  # type: ignore[arg-type]


@pytest.mark.parametrize("eta", [2, 3, 2.5, 4])
def test_a_rung_kept_sorted_as_results_come_answers_as_a_sort_of_every_result(
        eta: float) -> None:
    """The incremental rung (top, due, cutoff) against the rules computed from scratch
    after every result: ties (scores on a grid of 1/50, as on a validation set), a trial
    recorded again with a new score (a retry from an older checkpoint), passes."""
    rng = random.Random(7)
    rung, scores, passed = Rung(eta), {}, set()
    for step in range(600):
        trial = f"t{rng.randrange(400)}"
        score = rng.randrange(50) / 50
        cut = percentile(scores.values(), (1 - 1 / eta) * 100)
        assert rung.below_cutoff(score) == (bool(scores) and score < cut), step
        scores[trial] = score  # a dict keeps a re-recorded trial's first place
        rung.record(trial, score)
        ranked = sorted(scores, key=lambda t: -scores[t])
        top = ranked[:int(len(ranked) / eta)]
        if rng.random() < 0.3 and top:
            lucky = rng.choice(top)
            passed.add(lucky)
            rung.mark_passed(lucky)
        assert {t for t in scores if rung.in_top(t)} == set(top), step
        assert rung.due() == [t for t in top if t not in passed], step
        assert list(rung.ranked()) == ranked and dict(rung) == scores
    with pytest.raises(ValueError, match="NaN"):
        rung.record("t1", math.nan)


def test_the_stopping_rule_cuts_below_the_rungs_percentile_of_results_so_far() -> None:
    policy = stopping()
    a, b, c = view("t1", T, 0.95), view("t2", T, 0.96), view("t3", T, 0.94)
    assert policy.on_result(snap(a), "t1") is Decision.CONTINUE  # nothing recorded: free
    assert policy.on_result(snap(a, b), "t2") is Decision.CONTINUE  # above the one result
    # cutoff of [0.95, 0.96] at 66.7 %: 0.9567; 0.94 is below
    assert policy.on_result(snap(a, b, c), "t3") is Decision.STOP
    # between rungs nothing is judged; at rung 3 only the results recorded there count
    assert policy.on_result(snap(view("t2", T, 0.96, 0.97)), "t2") is Decision.CONTINUE
    assert policy.on_result(snap(view("t2", T, 0.96, 0.97, 0.5)), "t2") is Decision.CONTINUE


def test_a_kept_trial_is_never_stopped_early_yet_its_result_counts() -> None:
    policy = stopping()
    high, seed = view("t1", T, 0.97), view("t2", T, 0.90, kept=True)
    assert policy.on_result(snap(high), "t1") is Decision.CONTINUE
    assert policy.on_result(snap(high, seed), "t2") is Decision.CONTINUE
    # the seed's 0.90 is in the rung: cutoff of [0.97, 0.90] is 0.9467
    assert policy.on_result(snap(high, seed, view("t3", T, 0.94)), "t3") is Decision.STOP


def test_a_trial_stopped_unjudged_counts_at_its_rung_as_ray_records_it() -> None:
    policy = stopping(limits=(("params", 1e6),))
    costly = view("t1", T, 0.99, params=2e6)
    assert policy.on_result(snap(costly), "t1") is Decision.STOP  # the cost limit
    policy.on_end(snap(costly), "t1")
    assert policy.on_result(snap(costly, view("t2", T, 0.98)), "t2") is Decision.STOP


def test_fronts_keep_the_cheap_end_of_a_rung() -> None:
    policy = stopping(cost_key="params")
    best = view("t1", T, 0.99, params=900_000)
    cheap = view("t2", T, 0.97, params=20_000)
    dominated = view("t3", T, 0.96, params=950_000)
    assert policy.on_result(snap(best), "t1") is Decision.CONTINUE
    assert policy.on_result(snap(best, cheap), "t2") is Decision.CONTINUE
    assert policy.on_result(snap(best, cheap, dominated), "t3") is Decision.STOP
    assert goes_on("b", {"a": (0.99, 9.0), "b": (0.97, 1.0), "c": (0.96, 9.5)}, 3)


def test_the_last_epoch_and_a_cost_limit_stop_whatever_the_rule() -> None:
    for rule in Rule:
        policy = Policy(PolicySettings(rule=rule, max_t=2, limits=(("params", 10.0),)))
        assert policy.on_result(snap(view("t1", T, 0.9, 0.95)), "t1") is Decision.STOP
        assert policy.on_result(snap(view("t2", T, 0.99, params=11)), "t2") is Decision.STOP


def test_fifo_runs_every_trial_and_admits_up_to_max_concurrent() -> None:
    policy = Policy(PolicySettings(rule=Rule.FIFO, max_t=3, max_concurrent=1))
    assert policy.on_result(snap(view("t1", T, 0.1)), "t1") is Decision.CONTINUE
    assert policy.admit(snap(view("t1", T, 0.1))) is Admission.WAIT
    assert policy.admit(snap(view("t1", E, 0.1))) is Admission.START
    assert policy.admit(snap(view("t1", E, 0.1), finished=True)) is Admission.NO_MORE


def test_with_workers_known_configurations_wait_for_each_free_worker_and_one_more() -> None:
    # Ray lets as many trials wait as there are workers and one more (the driver raises its
    # pending limit): new configurations fill free workers at once, and one more waits to
    # take the next worker freed, whatever the rule.
    for rule in (Rule.FIFO, Rule.PROMOTION):
        policy = Policy(PolicySettings(rule=rule, max_t=3, workers=3))
        waiting = [view(f"p{i}", P) for i in range(4)]
        for n in range(4):
            assert policy.admit(snap(*waiting[:n])) is Admission.START
        assert policy.admit(snap(*waiting)) is Admission.WAIT
        assert policy.admit(snap(view("t1", T, 0.1), *waiting[:2])) is Admission.START
        assert policy.admit(snap(view("t1", T, 0.1), *waiting[:3])) is Admission.WAIT
        busy = [view(f"t{i}", T, 0.1) for i in (1, 2, 3)]
        assert policy.admit(snap(*busy)) is Admission.START
        assert policy.admit(snap(*busy, view("p0", P))) is Admission.WAIT
        # --max-concurrent is the limit when given
        limited = Policy(PolicySettings(rule=rule, max_t=3, workers=3, max_concurrent=1))
        assert limited.admit(snap(view("t1", T, 0.1))) is Admission.WAIT


def test_under_a_planned_end_configurations_wait_for_each_free_worker_none_more() -> None:
    # Each configuration drawn takes budget from the finalists: none waits beyond the free
    # workers, and one when none is free, as with Ray's own limit of one.
    policy = promotion(max_t=3, workers=3, epoch_budget=30)
    waiting = [view(f"p{i}", P) for i in range(3)]
    for n in range(3):
        assert policy.admit(snap(*waiting[:n])) is Admission.START
    assert policy.admit(snap(*waiting)) is Admission.WAIT
    assert policy.admit(snap(view("t1", T, 0.1), *waiting[:1])) is Admission.START
    assert policy.admit(snap(view("t1", T, 0.1), *waiting[:2])) is Admission.WAIT
    busy = [view(f"t{i}", T, 0.1) for i in (1, 2, 3)]
    assert policy.admit(snap(*busy)) is Admission.START
    assert policy.admit(snap(*busy, view("p0", P))) is Admission.WAIT


# -- the promotion rule ---------------------------------------------------------------------


def promotion(**changes: object) -> Policy:
    return Policy(PolicySettings(**{"rule": Rule.PROMOTION, "max_t": 9} | changes))  # type: ignore[arg-type]


def test_a_trial_waits_at_its_rung_until_it_enters_the_top_then_a_worker_resumes_it() -> None:
    policy = promotion()
    a = view("t1", T, 0.95)
    assert policy.on_result(snap(a), "t1") is Decision.PAUSE  # top ⌊1/3⌋ = nobody
    a = view("t1", W, 0.95)
    b = view("t2", T, 0.93)
    assert policy.on_result(snap(a, b), "t2") is Decision.PAUSE
    b = view("t2", W, 0.93)
    assert policy.choose(snap(a, b)) == Choice()  # still nobody in the top
    c = view("t3", T, 0.90)
    assert policy.on_result(snap(a, b, c), "t3") is Decision.PAUSE  # top of 3: t1
    c = view("t3", W, 0.90)
    assert policy.choose(snap(a, b, c)) == Choice(resume="t1")
    a = view("t1", P, 0.95)
    assert policy.choose(snap(a, b, c)) == Choice()  # t1 passed rung 1 once
    a = view("t1", T, 0.95, 0.96)
    assert policy.on_result(snap(a, b, c), "t1") is Decision.CONTINUE  # between rungs


def test_a_kept_trial_runs_every_epoch_and_counts_in_the_rung() -> None:
    policy = promotion()
    seed = view("t1", T, 0.90, kept=True)
    assert policy.on_result(snap(seed), "t1") is Decision.CONTINUE
    assert policy.on_result(snap(seed, view("t2", T, 0.95)), "t2") is Decision.PAUSE
    waiting = (seed, view("t2", W, 0.95), view("t3", T, 0.93))
    assert policy.on_result(snap(*waiting), "t3") is Decision.PAUSE
    # three results at rung 1 (the seed's among them): t2 is the top one
    assert policy.choose(snap(*waiting[:2], view("t3", W, 0.93))) == Choice(resume="t2")


def test_paused_trials_stop_once_nothing_can_change_a_rungs_top() -> None:
    policy = promotion()
    a, b = view("t1", T, 0.95), view("t2", T, 0.93)
    policy.on_result(snap(a), "t1")
    policy.on_result(snap(a, b), "t2")
    waiting = (view("t1", W, 0.95), view("t2", W, 0.93))
    assert policy.choose(snap(*waiting)) == Choice()  # a new configuration may come
    assert policy.choose(snap(*waiting, finished=True)) == Choice(stop=("t1", "t2"))


def test_max_concurrent_counts_a_due_promotion_as_a_taken_slot() -> None:
    policy = promotion(max_concurrent=1)
    trials = [view("t1", T, 0.97), view("t2", T, 0.93), view("t3", T, 0.90)]
    for i, trial in enumerate(trials):
        policy.on_result(snap(*trials[:i + 1]), trial.id)
    paused = [TrialView(t.id, t.number, W, t.epochs, t.scores) for t in trials]
    assert policy.admit(snap(*paused)) is Admission.WAIT  # t1 is due to resume
    assert policy.choose(snap(*paused)) == Choice(resume="t1")
    training = [view("t1", T, 0.97), *paused[1:]]
    assert policy.admit(snap(*training)) is Admission.WAIT
    assert policy.admit(snap(view("t1", E, 0.97), *paused[1:])) is Admission.START


def test_the_planned_end_holds_new_configurations_back_for_the_finalists() -> None:
    # budget 10, two finalists × (3 - 1) epochs reserved: the turn comes at 6 epochs
    policy = promotion(max_t=3, epoch_budget=10)
    ended = [view(f"t{i}", T, 0.9 + i / 100) for i in range(1, 5)]
    for i, trial in enumerate(ended):  # four configurations at the first rung, stopped
        assert policy.on_result(snap(*ended[:i + 1]), trial.id) is Decision.PAUSE
    ended = [TrialView(t.id, t.number, E, t.epochs, t.scores) for t in ended]
    assert policy.admit(snap(*ended)) is Admission.START  # 4 epochs spent
    a = view("t5", T, 0.99)
    assert policy.on_result(snap(*ended, a), "t5") is Decision.PAUSE  # 5 spent: breadth
    waiting = (*ended, view("t5", W, 0.99), view("t6", T, 0.98))
    # t6 reports: 6 epochs spent, the end is the finalists'; t6 is second best, t5 waits
    assert policy.on_result(snap(*waiting), "t6") is Decision.PAUSE
    waiting = (*ended, view("t5", W, 0.99), view("t6", W, 0.98))
    assert policy.admit(snap(*waiting)) is Admission.WAIT
    assert policy.choose(snap(*waiting)) == Choice(resume="t5")
    # not while the better finalist waits for its worker; once it trains, the second
    assert policy.choose(snap(*ended, view("t5", P, 0.99), view("t6", W, 0.98))) == Choice()
    assert policy.choose(snap(*ended, view("t5", T, 0.99), view("t6", W, 0.98))) == \
        Choice(resume="t6")
    assert not policy.budget_reached(snap(*waiting))
    assert policy.budget_reached(snap(*ended, view("t5", T, 0.99, 0.99, 0.99),
                                      view("t6", T, 0.98, 0.98, 0.98)))


# -- resume ---------------------------------------------------------------------------------


def test_after_a_kill_a_trial_whose_records_end_at_a_rung_it_had_not_passed_waits() -> None:
    policy = promotion()
    restored = snap(view("t1", E, *[0.9] * 9, kept=True), view("t2", P, 0.95),
                    view("t3", P, 0.97, 0.98), view("t4", P))
    states = policy.resumed(restored)
    assert states == {"t1": E, "t2": W, "t3": P, "t4": P}


def test_after_a_kill_the_stopping_rule_judges_against_the_records() -> None:
    policy = stopping()
    policy.resumed(snap(view("t1", E, 0.97), view("t2", E, 0.96), view("t3", P)))
    assert policy.on_result(snap(view("t1", E, 0.97), view("t2", E, 0.96),
                                 view("t3", T, 0.95)), "t3") is Decision.STOP


@dataclass
class _Script:
    """A search on one worker, fed to a policy step by step: curves by trial number."""

    policy: Policy
    views: dict[str, TrialView] = field(default_factory=dict)
    decisions: list[object] = field(default_factory=list)

    def snapshot(self) -> Snapshot:
        return Snapshot(tuple(self.views.values()), searcher_finished=len(self.views) >= 8)

    def step(self) -> None:
        running = [v for v in self.views.values() if v.state is T]
        if not running:
            choice = self.policy.choose(self.snapshot())
            self.decisions.append(choice)
            for name in choice.stop:
                self.set(name, E)
            if choice.resume:
                self.set(choice.resume, T)
            elif (admission := self.policy.admit(self.snapshot())) is Admission.START:
                name = f"t{len(self.views) + 1}"
                self.views[name] = TrialView(name, len(self.views) + 1, T)
            else:
                self.decisions.append(admission)
            return
        trial = running[0]
        score = 0.9 + (trial.number * 7 % 10) / 100 + trial.epochs / 1000
        self.views[trial.id] = TrialView(trial.id, trial.number, T, trial.epochs + 1,
                                         (*trial.scores, score))
        decision = self.policy.on_result(self.snapshot(), trial.id)
        self.decisions.append(decision)
        if decision is Decision.PAUSE:
            self.set(trial.id, W)
        elif decision is Decision.STOP:
            self.policy.on_end(self.snapshot(), trial.id)
            self.set(trial.id, E)

    def set(self, name: str, state: TrialState) -> None:
        v = self.views[name]
        self.views[name] = TrialView(v.id, v.number, state, v.epochs, v.scores, v.costs, v.kept)


@pytest.mark.parametrize("rule", [Rule.PROMOTION, Rule.STOPPING])
def test_a_policy_pickled_mid_way_makes_the_same_next_decisions(rule: Rule) -> None:
    settings = PolicySettings(rule=rule, max_t=9, epoch_budget=30 if rule is Rule.PROMOTION
                              else None, max_concurrent=1)
    script = _Script(Policy(settings))
    for _ in range(25):
        script.step()
    copy = _Script(pickle.loads(pickle.dumps(script.policy)), dict(script.views))
    for _ in range(40):
        script.step()
        copy.step()
    assert copy.decisions == script.decisions[25:]
    assert len(set(map(str, copy.decisions))) > 2  # it decided more than one thing


# -- settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Goal:
    cost_key: str | None = None
    limits: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Search:
    scheduler: str = "asha-promotion"
    epochs: int = 9
    grace_period: int = 1
    reduction_factor: float = 3.0
    max_concurrent: int | None = None
    epoch_budget: int | None = 38
    goal: _Goal = _Goal()
    time_budget_s: float | None = None
    finalists: int = 2


def test_settings_come_from_a_searchs_fields() -> None:
    promoted = policy_settings(_Search())
    assert promoted.planned and promoted.keeps(2) and promoted.rungs == (1, 3)
    asha = policy_settings(_Search(scheduler="asha", goal=_Goal(limits={"params": 5e5})))
    assert asha.keeps(1) and not asha.keeps(2) and not asha.planned
    assert asha.limits == (("params", 5e5),)
    pareto = policy_settings(_Search(scheduler="asha", goal=_Goal(cost_key="params")))
    assert pareto.cost_key == "params" and not pareto.keeps(1)
    fifo = policy_settings(_Search(scheduler="fifo", goal=_Goal(cost_key="params")))
    assert fifo.cost_key is None and fifo.rungs == ()


def test_settings_name_a_bad_value() -> None:
    with pytest.raises(ValueError, match="`max_concurrent` must be at least 1, but got 0"):
        PolicySettings(max_concurrent=0)
    with pytest.raises(ValueError, match="`cost_key` ranks by fronts"):
        PolicySettings(rule=Rule.PROMOTION, cost_key="params")
    with pytest.raises(KeyError, match="trial 't9' is not in the snapshot"):
        Snapshot().trial("t9")


def test_a_kept_trial_still_training_takes_a_finalists_slot() -> None:
    """Not pinned by any golden trace (their warm starts end before the turn)."""
    from mnist_hpo.search.policy.plan import EndPlan

    plan = EndPlan(budget=20, reserve=8, finalists=2)
    first = {"t2": 0.99, "t3": 0.98}
    seed = view("t1", T, *[0.9] * 5, kept=True)
    waiting = (view("t2", W, 0.99), view("t3", W, 0.98))
    assert plan.slots(snap(seed, *waiting)) == 1
    assert plan.slots(snap(view("t1", E, 0.9, kept=True), *waiting)) == 2
    # the seed training: one finalist only; t3 waits even once t2 trains
    assert not plan.is_finalist("t3", snap(seed, view("t2", T, 0.99), waiting[1]), first,
                                set())
    assert plan.is_finalist("t3", snap(view("t1", E, 0.9, kept=True), view("t2", T, 0.99),
                                       waiting[1]), first, set())
    # a configuration still in its first epoch may rank above: nobody is chosen yet
    assert not plan.is_finalist("t2", snap(*waiting, view("t4", T)), first, set())
