"""Every use of a private part of Ray or Optuna, each with why no public way exists.

Private attributes, methods and switches change between minor releases without notice
(STYLE.md, "Lean only on public APIs"). Where mnist-hpo cannot do without one, the use is
here and nowhere else: pyproject.toml caps ray and optuna at the minor releases below,
``tests/test_compat.py`` checks each use against the installed versions (and fails naming
the package, its version and the internal that moved), and it greps the rest of the code
for private uses outside this module.

Nothing here imports Ray or Optuna: the command line imports this module before Ray is.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Container
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial, TrialState

#: The releases the uses below were written for and checked against.
RAY_WRITTEN_FOR = "2.60.0"
OPTUNA_WRITTEN_FOR = "5.1.0"

#: Ray's switch for clusters on Windows and macOS (``ray._private.ray_constants.
#: ENABLE_RAY_CLUSTERS_ENV_VAR``), read when Ray is imported. Set to ``"0"``, every process
#: of a local runtime (GCS, raylet, workers) binds to 127.0.0.1 instead of every interface.
#: Why private: ``ray.init`` has no public option for the node's address (its
#: ``_node_ip_address`` is private too), and ``ray start --node-ip-address`` is for clusters.
RAY_LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


class SamplerStudyView:
    """``study`` as Optuna's samplers see it: the trials they read are ``seen(trials)``;
    every other attribute is the study's own. Hand it to a sampler's methods in place of
    the study.

    Why private: samplers read a study's trials through ``Study._get_trials`` (TPE, GP,
    NSGA-II, the search-space calculations: its ``use_cache`` shares one read per ask) or
    the public ``Study.get_trials``; Optuna has no public hook to change what a sampler
    sees. A storage wrapping the study's (``BaseStorage`` is public) would need
    ``Study._storage``, private too.

    Args:
        study: The study.
        seen: The study's trials (in its order) → the trials the sampler is to see. Called
            at the view's first read only: a view is for one ask (or one tell), during
            which the study changes only by the asked trial's own parameters.
    """

    def __init__(self, study: optuna.Study,
                 seen: Callable[[list[FrozenTrial]], list[FrozenTrial]]) -> None:
        self._study = study
        self._seen = seen
        # TPE reads the study about six times per ask (once per group of parameters, the
        # search space, the constant liar); a search of 10,000 trials would otherwise map
        # them all each time (benchmarks/simulated_search.py).
        self._read: list[FrozenTrial] | None = None

    @property
    def study(self) -> optuna.Study:
        """The study seen through this view."""
        return self._study

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def get_trials(self, deepcopy: bool = True,
                   states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        return self._get_trials(deepcopy=deepcopy, states=states)

    def _get_trials(self, deepcopy: bool = True, states: Container[TrialState] | None = None,
                    use_cache: bool = False) -> list[FrozenTrial]:
        # States are filtered after ``seen``, which may change them.
        if self._read is None:
            self._read = self._seen(self._study._get_trials(deepcopy=False, states=None,
                                                            use_cache=use_cache))
        seen = self._read
        chosen = seen if states is None else [t for t in seen if t.state in states]
        return copy.deepcopy(chosen) if deepcopy else chosen

    @property
    def trials(self) -> list[FrozenTrial]:
        return self.get_trials()
