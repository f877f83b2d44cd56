"""What a policy is configured with: plain values, built from a search's settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from mnist_hpo.search.policy.rungs import rungs


class Rule(Enum):
    """How trials are judged at the rungs (the values are ``--scheduler``'s)."""

    #: Every trial to its last epoch.
    FIFO = "fifo"
    #: Ray's ASHA: a trial below the rung's cutoff stops.
    STOPPING = "asha"
    #: A trial waits at its rung until it enters the rung's top.
    PROMOTION = "asha-promotion"


@dataclass(frozen=True)
class PolicySettings:
    """A search's rules, as plain values.

    Attributes:
        rule: How trials are judged at the rungs.
        max_t: Epochs of a trial that runs to the end.
        grace_period: The first rung, in epochs.
        reduction_factor: η: the top 1/η of a rung goes on.
        max_concurrent: Trials training at once (None: as many as there are workers).
        epoch_budget: The search's budget in trial-epochs (None: no budget).
        plan_end: Whether the promotion rule plans the end of a budget (``mnist-hpo``
            always does; the benchmarks replay and re-run the earlier default without it).
        finalists: Trials the planned end of a budget trains to the end (``--finalists``);
            a kept warm start still training then is one of them (:class:`.plan.EndPlan`).
        cost_key: Under the stopping rule, rank a rung by (score, this cost) fronts.
        limits: Cost key → the largest allowed value: a trial over one stops at once.
        kept_warm_starts: How many of the search's warm starts run every epoch, first ones
            first (None: all); an adapter marks those trials ``kept``.
        time_budget_s: The search's time budget in seconds (None: none); the snapshot says
            what is left of it (``Snapshot.time_left_s``).
        workers: Trials that can train at once (``--max-concurrent``, or what the cluster's
            resources hold); None: as many as the snapshot shows training. The plan of a
            time budget counts the finalists' wall time on these.
    """

    rule: Rule = Rule.PROMOTION
    max_t: int = 5
    grace_period: int = 1
    reduction_factor: float = 3.0
    max_concurrent: int | None = None
    epoch_budget: int | None = None
    plan_end: bool = True
    finalists: int = 2
    cost_key: str | None = None
    limits: tuple[tuple[str, float], ...] = ()
    kept_warm_starts: int | None = None
    time_budget_s: float | None = None
    workers: int | None = None

    def __post_init__(self) -> None:
        rungs(self.max_t, self.grace_period, self.reduction_factor)  # raises on bad values
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise ValueError(f"`max_concurrent` must be at least 1, but got "
                             f"{self.max_concurrent}")
        if self.epoch_budget is not None and self.epoch_budget < 1:
            raise ValueError(f"`epoch_budget` must be at least 1, but got {self.epoch_budget}")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise ValueError(f"`time_budget_s` must be more than 0, but got "
                             f"{self.time_budget_s}")
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"`workers` must be at least 1, but got {self.workers}")
        if self.finalists < 1:
            raise ValueError(f"`finalists` must be at least 1, but got {self.finalists}")
        if self.cost_key is not None and self.rule is not Rule.STOPPING:
            raise ValueError(f"`cost_key` ranks by fronts under rule {Rule.STOPPING.value!r}"
                             f" only, but got rule {self.rule.value!r}")

    @property
    def rungs(self) -> tuple[int, ...]:
        """The epochs where trials are judged (none under FIFO)."""
        if self.rule is Rule.FIFO:
            return ()
        return rungs(self.max_t, self.grace_period, self.reduction_factor)

    @property
    def planned(self) -> bool:
        """Whether the end of a budget, of epochs or of time, is planned (promotion rule
        only)."""
        budget = self.epoch_budget is not None or self.time_budget_s is not None
        return self.rule is Rule.PROMOTION and self.plan_end and budget and bool(self.rungs)

    def keeps(self, warm_start: int) -> bool:
        """Whether the ``warm_start``-th warm start (1 for the seed network) runs every
        epoch."""
        return self.kept_warm_starts is None or warm_start <= self.kept_warm_starts


class _Goal(Protocol):
    @property
    def cost_key(self) -> str | None: ...

    @property
    def limits(self) -> Mapping[str, float]: ...


class SearchFields(Protocol):
    """The fields of ``mnist_hpo.search.tune.settings.SearchSettings`` a policy reads
    (named here: the policy imports nothing of ``search.tune``)."""

    @property
    def scheduler(self) -> str: ...
    @property
    def epochs(self) -> int: ...
    @property
    def grace_period(self) -> int: ...
    @property
    def reduction_factor(self) -> float: ...
    @property
    def max_concurrent(self) -> int | None: ...
    @property
    def epoch_budget(self) -> int | None: ...
    @property
    def time_budget_s(self) -> float | None: ...
    @property
    def finalists(self) -> int: ...
    @property
    def goal(self) -> _Goal: ...


def policy_settings(search: SearchFields) -> PolicySettings:
    """The policy of a search as ``mnist-hpo search`` configures it.

    The promotion rule keeps both warm starts (judged, the twin would wait at epoch 3 for
    three trials to get there); the stopping rule keeps the seed network (its slow first
    epoch would stop it) and judges its twin like any trial; a Pareto search keeps neither.
    """
    rule = Rule(search.scheduler)
    cost_key = search.goal.cost_key if rule is Rule.STOPPING else None
    kept = {Rule.PROMOTION: None, Rule.STOPPING: 0 if cost_key else 1, Rule.FIFO: 0}[rule]
    return PolicySettings(
        rule=rule, max_t=search.epochs, grace_period=search.grace_period,
        reduction_factor=search.reduction_factor, max_concurrent=search.max_concurrent,
        epoch_budget=search.epoch_budget, finalists=search.finalists, cost_key=cost_key,
        limits=tuple(sorted(search.goal.limits.items())), kept_warm_starts=kept,
        time_budget_s=search.time_budget_s)
