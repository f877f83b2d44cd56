"""The search's decisions as a pure policy: an explicit snapshot of the trials in, plain
decisions out (issue 30).

Nothing here imports Ray, Optuna, TensorFlow, or ``search.tune`` (an import-linter contract
in pyproject.toml holds it): a decision is a unit test, and the same object can run under
Ray, a replay of recorded curves, or the golden traces' simulated world.

- :mod:`.snapshot`: what the policy sees (:class:`TrialView`, :class:`Snapshot`).
- :mod:`.decisions`: what it answers (:class:`Decision`, :class:`Admission`,
  :class:`Choice`).
- :mod:`.settings`: what it is configured with (:class:`PolicySettings`).
- :mod:`.rungs`, :mod:`.asha`, :mod:`.pareto`, :mod:`.plan`: the rules; the planned end's
  finalists in :mod:`.finalists`, a time budget's schedule in :mod:`.budget`.
- :mod:`.policy`: :class:`Policy`, the rules' memory and the questions a runner asks.

Who asks: under Ray, ``mnist_hpo.search.tune.scheduler.PolicyScheduler`` (Ray's
``TrialScheduler``: each of Ray's calls becomes a snapshot and one question; the searcher's
"may a new configuration start?" goes through it too); ``benchmarks/scheduler_replay.py``
on recorded curves; ``tests/golden_events.py``'s ``PolicySearch`` in the golden traces.
"""

from mnist_hpo.search.policy.budget import TimeEstimate
from mnist_hpo.search.policy.decisions import Admission, Choice, Decision
from mnist_hpo.search.policy.finalists import Finalist
from mnist_hpo.search.policy.plan import PlanReport
from mnist_hpo.search.policy.policy import Policy
from mnist_hpo.search.policy.rungs import rungs
from mnist_hpo.search.policy.settings import PolicySettings, Rule, SearchFields, policy_settings
from mnist_hpo.search.policy.snapshot import Snapshot, Trials, TrialState, TrialView

__all__ = [
           "Admission",
           "Choice",
           "Decision",
           "Finalist",
           "PlanReport",
           "Policy",
           "PolicySettings",
           "Rule",
           "SearchFields",
           "Snapshot",
           "TimeEstimate",
           "TrialState",
           "TrialView",
           "Trials",
           "policy_settings",
           "rungs",
]
