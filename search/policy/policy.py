"""The policy: every scheduling decision of a search, from an explicit snapshot.

One object holds the rules' memory (results at each rung, who passed one, who was told to
pause) and nothing else: no runner, no shared reference. It pickles whole; after a kill,
:meth:`Policy.resumed` rebuilds that memory from the trials' records.

An adapter asks, in the order a runner's loop does (Ray 2.60's ``TuneController.step``):
:meth:`~Policy.admit` before creating a configuration, :meth:`~Policy.choose` when a worker
is free, :meth:`~Policy.on_result` for each epoch reported, :meth:`~Policy.on_end` when a
trial stopped, and :meth:`~Policy.budget_reached` after each event.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from mnist_hpo.search.policy.asha import Rung, rung_to_record
from mnist_hpo.search.policy.decisions import Admission, Choice, Decision
from mnist_hpo.search.policy.pareto import Point, goes_on
from mnist_hpo.search.policy.plan import PlanReport, end_plan
from mnist_hpo.search.policy.settings import PolicySettings, Rule
from mnist_hpo.search.policy.snapshot import Snapshot, TrialState, TrialView


class Policy:
    """The decisions of one search.

    Args:
        settings: The search's rules.
    """

    def __init__(self, settings: PolicySettings) -> None:
        self.settings = settings
        self._rungs = settings.rungs
        self._plan = end_plan(settings)
        self._forget()

    def _forget(self) -> None:
        # Rung → its scores and who passed it (the stopping and promotion rules), or trial
        # id → point (fronts), in the order recorded: of equal scores the first recorded
        # ranks first.
        eta = self.settings.reduction_factor
        self._scores: dict[int, Rung] = {r: Rung(eta) for r in self._rungs}
        self._points: dict[int, dict[str, Point]] = {r: {} for r in self._rungs}
        # Told to pause: the runner shows such a trial training until its checkpoint is saved.
        self._pausing: set[str] = set()
        # A time plan turned to the finalists holds, though the estimate may later shrink
        # (a finalist's first epoch, start-up included, measured long).
        self._turned = False

    # -- a new configuration --------------------------------------------------------------

    def admit(self, snapshot: Snapshot) -> Admission:
        """Whether a new configuration may start now: not once the searcher has none left,
        not while ``max_concurrent`` trials are training, waiting for a worker, or due to
        resume (a worker a pause freed is not a free slot), else not while configurations
        wait for every free worker and one more (under a planned end: for every free worker,
        at least one), nor while the planned end has finalists to train (their epochs)."""
        if snapshot.searcher_finished:
            return Admission.NO_MORE
        limit = self.settings.max_concurrent
        if limit is None and self.settings.workers is not None:
            # One more waits to take the next freed worker without a round trip to the
            # searcher; under a planned end each one drawn takes budget: none spare.
            free = self.settings.workers - self._training(snapshot) - \
                (self._resumable(snapshot) is not None)
            if snapshot.count(TrialState.PENDING) >= max(free + (self._plan is None), 1):
                return Admission.WAIT
        if limit is not None:
            taken = self._training(snapshot) + snapshot.count(TrialState.PENDING) + \
                (self._resumable(snapshot) is not None)
            if taken >= limit:
                return Admission.WAIT
        if self._plan is not None and not self._plan.takes_new_configurations(
                snapshot, self._first, self._pausing, self._finishing(snapshot)):
            return Admission.WAIT
        return Admission.START

    # -- a free worker --------------------------------------------------------------------

    def choose(self, snapshot: Snapshot) -> Choice:
        """What a free worker does: resume the paused trial now due (promotion: the
        furthest that entered its rung's top; under a planned end the best finalist),
        else take a pending one. When nothing can change a rung's top any more (no new
        configuration, nothing training), the paused trials have lost: they stop."""
        if self.settings.rule is not Rule.PROMOTION:
            paused = snapshot.count(TrialState.PAUSED) and \
                not snapshot.count(TrialState.PENDING)
            return Choice(resume=snapshot.ids(TrialState.PAUSED)[0] if paused else None)
        limit, workers = self.settings.max_concurrent, self.settings.workers
        resuming = sum(snapshot.trial(t).trained > 0 for t in snapshot.ids(TrialState.PENDING))
        if (limit is not None and self._training(snapshot) >= limit) or (
                workers is not None and self._training(snapshot) + resuming >= workers):
            # No worker is free: Ray asks at each step, and a trial chosen now would wait
            # for the next worker freed, however late (and the time left with it).
            return Choice()
        due = self._resumable(snapshot)
        if due is not None:
            trial_id, rung = due
            self._scores[rung].mark_passed(trial_id)
            self._pausing.discard(trial_id)
            return Choice(resume=trial_id)
        if snapshot.count(TrialState.PENDING) or (self._plan is not None and
                                                  not self._plan.timed):
            return Choice()
        # Under a time budget's plan, once no configuration is left, the trials that are
        # not finalists would wait for a budget that has nothing more for them.
        if snapshot.count(TrialState.PAUSED) and snapshot.searcher_finished and \
                not snapshot.count(TrialState.TRAINING):
            return Choice(stop=tuple(snapshot.ids(TrialState.PAUSED)))
        return Choice()

    # -- a result -------------------------------------------------------------------------

    def on_result(self, snapshot: Snapshot, trial_id: str) -> Decision:
        """The decision for ``trial_id``'s latest result (the snapshot includes it): stop
        one over a cost limit or at its last epoch, else judge it at its rung."""
        view = snapshot.trial(trial_id)
        if self.over_limit(view) or view.epochs >= self.settings.max_t:
            return Decision.STOP
        score = view.score(view.epochs)
        if self.settings.rule is Rule.PROMOTION:
            return self._promote(snapshot, view, score)
        if score is None or self.settings.rule is Rule.FIFO:
            return Decision.CONTINUE
        stop = self._judge(view, score)
        return Decision.STOP if stop and not view.kept else Decision.CONTINUE

    def over_limit(self, view: TrialView) -> bool:
        """Whether ``view`` costs more than a limit allows (``--max-params``...)."""
        return any(key in view.costs and float(view.costs[key]) > limit
                   for key, limit in self.settings.limits)

    def on_end(self, snapshot: Snapshot, trial_id: str) -> None:
        """``trial_id`` completed, or was stopped after a result (by a rule or a cost
        limit). The stopping rule records its last result at the rung it reached unjudged,
        as Ray's ``ASHAScheduler.on_trial_complete`` does (a cost limit's stop, for
        instance); the fronts do not (as the Pareto ASHA before the policy did not)."""
        view = snapshot.trial(trial_id)
        score = view.score(view.epochs)
        if self.settings.rule is Rule.STOPPING and self.settings.cost_key is None and \
                score is not None:
            self._judge(view, score)

    def plan(self, snapshot: Snapshot) -> PlanReport | None:
        """What the planned end of the budget stands at (None: no plan): breadth or the
        finalists, the finalists-to-be and why, and a time budget's estimate. For the
        records: the decisions ask the same questions."""
        if self._plan is None:
            return None
        return self._plan.report(snapshot, self._first, self._pausing,
                                 self._finishing(snapshot))

    def budget_reached(self, snapshot: Snapshot) -> bool:
        """Whether the epoch budget is spent: the search ends now."""
        budget = self.settings.epoch_budget
        return budget is not None and snapshot.spent >= budget

    # -- after a kill ---------------------------------------------------------------------

    def resumed(self, snapshot: Snapshot) -> dict[str, TrialState]:
        """The search was killed and resumed: forget what was decided, rebuild the rungs
        from the trials' records (the snapshot's scores), and say each trial's state (see
        :meth:`restored`)."""
        self._forget()
        return {view.id: self.restored(view) for view in snapshot.trials}

    def restored(self, view: TrialView) -> TrialState:
        """One trial of a resumed search, as its runner adds it back: its scores at the
        rungs count again, it has passed every rung below its last recorded epoch, and
        the state it is to have. A trial whose records end at a rung it had not passed
        (promotion rule) waits there again, PAUSED, instead of running on as if it had
        won. The answer depends on this trial's records only: a runner may add trials back
        one at a time (Ray's ``on_trial_add``)."""
        scores = {e: s for e in range(1, len(view.scores) + 1)
                  if (s := view.score(e)) is not None}
        last = max(scores, default=0)
        for rung in self._rungs:
            if rung not in scores:
                continue
            self._scores[rung].record(view.id, scores[rung])
            self._points[rung][view.id] = (scores[rung], self._cost(view))
            if rung < last or view.kept:
                self._scores[rung].mark_passed(view.id)
        if self.settings.rule is Rule.PROMOTION and last in self._rungs and \
                not self._scores[last].has_passed(view.id) and \
                view.state is TrialState.PENDING:
            return TrialState.PAUSED
        return view.state

    # -- the rules ------------------------------------------------------------------------

    def _promote(self, snapshot: Snapshot, view: TrialView, score: float | None) -> Decision:
        """The promotion rule (and the planned end) for a result at ``view.epochs``."""
        epoch, trial_id = view.epochs, view.id
        self._pausing.discard(trial_id)
        # A trial restarted from an older checkpoint reports a rung again: once it has
        # passed a rung it keeps its place; otherwise its new score is judged.
        rung = self._scores.get(epoch)
        if rung is None or rung.has_passed(trial_id) or score is None:
            return Decision.CONTINUE
        rung.record(trial_id, score)
        if view.kept:
            rung.mark_passed(trial_id)
            return Decision.CONTINUE
        if self._plan is not None:  # breadth, then the finalists
            # Past its first rung a finalist goes on, fitting or not, as one waiting would
            # be resumed (``TimePlan.can_finish``): a pause would only cost it a restart.
            goes = self._finishing(snapshot, reporting=trial_id) and \
                self._plan.is_finalist(trial_id, snapshot, self._first, self._pausing) and \
                (epoch > self._rungs[0] or self._plan.fits(view, snapshot))
        else:
            goes = rung.in_top(trial_id)
        if goes:
            rung.mark_passed(trial_id)
            return Decision.CONTINUE
        self._pausing.add(trial_id)
        return Decision.PAUSE

    def _judge(self, view: TrialView, score: float) -> bool:
        """The stopping rule at the rung ``view``'s result reaches (recording it there):
        whether it falls below the cutoff, or off the best 1/η of the fronts."""
        eta = self.settings.reduction_factor
        if self.settings.cost_key is not None:
            rung = rung_to_record(self._rungs, view.epochs, view.id, self._points)
            if rung is None:
                return False
            self._points[rung][view.id] = (score, self._cost(view))
            return not goes_on(view.id, self._points[rung], eta)
        rung = rung_to_record(self._rungs, view.epochs, view.id, self._scores)
        if rung is None:
            return False
        stop = self._scores[rung].below_cutoff(score)  # Ray cuts before recording
        self._scores[rung].record(view.id, score)
        return stop

    def _resumable(self, snapshot: Snapshot) -> tuple[str, int] | None:
        """The paused trial due to resume and the rung it passes, if any."""
        if not snapshot.count(TrialState.PAUSED):
            return None
        if self.settings.rule is not Rule.PROMOTION:  # Ray's FIFO order: any paused trial
            return (snapshot.ids(TrialState.PAUSED)[0], 0) \
                if not snapshot.count(TrialState.PENDING) else None
        if self._plan is not None:
            if not self._finishing(snapshot):
                return None
            # The first paused finalist in the order picked: without signatures, the best
            # paused candidate by score, as before the finalists were picked for unlikeness.
            unfinished = snapshot.searcher_finished and not self._plan.timed
            chosen = self._plan.chosen(snapshot, self._first, unfinished)
            best = next((t for t in self._plan.trainable(snapshot, chosen)
                         if snapshot.is_in(t, TrialState.PAUSED)), None)
            if best is None or not self._plan.is_finalist(best, snapshot, self._first,
                                                          self._pausing):
                return None
            return best, max(r for r in self._rungs if best in self._scores[r])
        for rung in reversed(self._rungs):  # the furthest trials first
            for trial_id in self._scores[rung].due():
                if snapshot.is_in(trial_id, TrialState.PAUSED):
                    return trial_id, rung
        return None

    def _finishing(self, snapshot: Snapshot, reporting: str | None = None) -> bool:
        """The plan's :meth:`~EndPlan.finishing`; under a time budget, once true, true for
        good (the policy's memory, forgotten at a resume: the resumed search plans with
        what is left)."""
        plan = self._plan
        if plan is None:
            return False
        if plan.timed and self._turned:
            return True
        finishing = plan.finishing(snapshot, self._pausing, reporting, self._first)
        self._turned = plan.timed and finishing
        return finishing

    def _training(self, snapshot: Snapshot) -> int:
        """Trials holding a worker for more epochs: training, not told to pause."""
        training = snapshot.count(TrialState.TRAINING)
        return training - sum(snapshot.trial(trial_id).state is TrialState.TRAINING
                              for trial_id in self._pausing if trial_id in snapshot)

    @property
    def _first(self) -> Mapping[str, float]:
        """Trial id → score at the first rung."""
        return self._scores[self._rungs[0]] if self._rungs else {}

    def _cost(self, view: TrialView) -> float:
        # A trial without a cost (it failed to measure one) ranks as the costliest.
        key = self.settings.cost_key
        return float(view.costs.get(key, math.inf)) if key else math.inf

