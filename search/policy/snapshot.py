"""What the policy sees: a frozen view of every trial, taken by an adapter at each call.

The policy never reads Ray's or Optuna's objects: an adapter (Ray's controller, the replay of
recorded curves, the golden traces' world) turns its own trials into a :class:`Snapshot`,
asks, and applies the answer. The view is of facts only (a trial's state, its scores, its
cost); what the policy decided before (who passed a rung, who was told to pause) is the
policy's own state.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property


class TrialState(Enum):
    """Where a trial is, as the runner sees it."""

    #: Created, or chosen to resume, and waiting for a worker.
    PENDING = "pending"
    #: Holding a worker (also while its pause's checkpoint is being saved).
    TRAINING = "training"
    #: Waiting at a rung, its worker free.
    PAUSED = "paused"
    #: Completed, stopped, or removed: it will train no more.
    ENDED = "ended"


@dataclass(frozen=True)
class TrialView:
    """One trial as the policy sees it.

    Attributes:
        id: The runner's name for it (Ray's trial id).
        number: Its creation counter, 1, 2, 3...
        state: Where it is.
        epochs: The epoch of its latest result (0: none yet).
        scores: Its score (val_accuracy, higher is better) after each epoch it reached,
            epoch 1 first; NaN for an epoch reported without one. As long as the furthest
            epoch it reached: a trial retried from an older checkpoint keeps its later
            scores until it reports them again.
        costs: What it costs (``params``, ``latency_ms_batch_1``...), known from its first
            result on.
        kept: A warm start that runs every epoch: never paused, never stopped early, its
            scores still count in the rungs.
        epoch_s: Its measured wall seconds per epoch once started (under Ray, the time of
            its latest epoch's training and validation, plus what the search measures
            between two epochs of a trial that trains on); None: not measured. Read by the
            plan of a time budget only.
        signature: Its predicted label of every validation image at the first rung, one
            byte each (any encoding, the same for every trial); None: not reported. Read
            by the choice of finalists only (:mod:`.finalists`).
    """

    id: str
    number: int
    state: TrialState
    epochs: int = 0
    scores: tuple[float, ...] = ()
    costs: Mapping[str, float] = field(default_factory=dict)
    kept: bool = False
    epoch_s: float | None = None
    signature: bytes | None = None

    def score(self, epoch: int) -> float | None:
        """Its score after ``epoch``, None if not reported (or reported as NaN)."""
        if not 1 <= epoch <= len(self.scores) or math.isnan(self.scores[epoch - 1]):
            return None
        return self.scores[epoch - 1]

    @property
    def trained(self) -> int:
        """Epochs trained, as an epoch budget counts them: the furthest epoch reached (a
        retried epoch does not count twice)."""
        return max(len(self.scores), self.epochs)


@dataclass(frozen=True)
class Snapshot:
    """Every trial of the search, in the runner's order (ties are broken by it), and
    whether the searcher will give another configuration.

    Attributes:
        trials: The trials, in the order the runner lists them.
        searcher_finished: No new configuration will come (``--trials`` reached, or the
            searcher has none left).
        time_left_s: Seconds left of the search's time budget, as the runner's clock says
            now (None: no time budget, or not known).
        start_s: Seconds a trial takes to start on a worker before its first epoch there
            begins, new or resumed, as measured (None: not measured).
    """

    trials: tuple[TrialView, ...] = ()
    searcher_finished: bool = False
    time_left_s: float | None = None
    start_s: float | None = None

    # The indexes below are built once per snapshot, on first use (or handed over by
    # :class:`Trials`): a policy asks several questions of one snapshot, and a search of
    # 10,000 trials asks tens of thousands.

    @cached_property
    def _by_id(self) -> dict[str, TrialView]:
        return {view.id: view for view in self.trials}

    @cached_property
    def _by_state(self) -> dict[TrialState, dict[str, int]]:
        """State → trial id → its place in the runner's order."""
        by_state: dict[TrialState, dict[str, int]] = {state: {} for state in TrialState}
        for place, view in enumerate(self.trials):
            by_state[view.state][view.id] = place
        return by_state

    def trial(self, trial_id: str) -> TrialView:
        """The view of ``trial_id``.

        Raises:
            KeyError: no trial of that id in the snapshot.
        """
        try:
            return self._by_id[trial_id]
        except KeyError:
            raise KeyError(f"trial {trial_id!r} is not in the snapshot "
                           f"({len(self.trials)} trials)") from None

    def __contains__(self, trial_id: object) -> bool:
        return trial_id in self._by_id

    def ids(self, *states: TrialState) -> list[str]:
        """The trials in one of ``states``, in the runner's order."""
        places: dict[str, int] = {}
        for state in states:
            places.update(self._by_state[state])
        return sorted(places, key=places.__getitem__)

    def count(self, state: TrialState) -> int:
        """How many trials are in ``state``."""
        return len(self._by_state[state])

    def is_in(self, trial_id: str, state: TrialState) -> bool:
        """Whether ``trial_id`` is in ``state``."""
        return trial_id in self._by_state[state]

    @cached_property
    def spent(self) -> int:
        """The search's budget spent: every trial's epochs trained."""
        return sum(view.trained for view in self.trials)


class Trials:
    """Every trial's latest view, kept indexed as the views change, for an adapter that
    knows when a trial changed: a :meth:`snapshot` then costs the same at 10 trials as at
    10,000 (benchmarks/simulated_search.py: a walk or a copy of every trial at each of a
    search's tens of thousands of questions was most of the driver's time per decision).

    A snapshot shares these indexes instead of copying them; before they next change,
    each snapshot still held by someone is handed copies of its own (a snapshot is
    frozen), and one already dropped (an adapter asks one question of it and lets it go)
    costs nothing. Trials keep the place they were first put at: the runner's order."""

    def __init__(self) -> None:
        self._views: dict[str, TrialView] = {}
        self._places: dict[str, int] = {}
        self._by_state: dict[TrialState, dict[str, int]] = {state: {} for state in TrialState}
        self._spent = 0
        # The snapshots handed out since the last change, which share the indexes above.
        self._lent: list[weakref.ref[_Shared]] = []

    def put(self, view: TrialView) -> None:
        """``view`` is its trial's latest (a new trial goes last)."""
        if self._lent:
            self._settle()
        old = self._views.get(view.id)
        if old is not None:
            self._spent -= old.trained
            del self._by_state[old.state][view.id]
        place = self._places.setdefault(view.id, len(self._places))
        self._views[view.id] = view
        self._by_state[view.state][view.id] = place
        self._spent += view.trained

    def _settle(self) -> None:
        """The indexes are about to change: the snapshots still held get their own copies."""
        for lent in self._lent:
            snapshot = lent()
            if snapshot is not None:
                snapshot.__dict__.update(
                    _by_id=dict(self._views),
                    _by_state={state: dict(ids) for state, ids in self._by_state.items()})
        self._lent.clear()

    def get(self, trial_id: str) -> TrialView | None:
        """The latest view of ``trial_id``, if it was put."""
        return self._views.get(trial_id)

    def __len__(self) -> int:
        return len(self._views)

    def count(self, state: TrialState) -> int:
        """How many trials are in ``state`` as last put."""
        return len(self._by_state[state])

    def snapshot(self, searcher_finished: bool = False, time_left_s: float | None = None,
                 start_s: float | None = None) -> Snapshot:
        """The trials as they are now."""
        snapshot = _Shared.__new__(_Shared)
        # The fields, and the indexes Snapshot would build on first use, as Trials' own (a
        # frozen dataclass's __init__ would set ``trials``, which is built on first use).
        snapshot.__dict__.update(
            searcher_finished=searcher_finished, time_left_s=time_left_s, start_s=start_s,
            _by_id=self._views, _by_state=self._by_state, spent=self._spent)
        self._lent.append(weakref.ref(snapshot))
        return snapshot


class _Shared(Snapshot):
    """A snapshot from :class:`Trials`, its indexes shared until they change (then its
    own copies); its ``trials`` built from them on first use: most questions never read
    every trial."""

    @cached_property
    def trials(self) -> tuple[TrialView, ...]:
        return tuple(self._by_id.values())  # in the order first put: the runner's
