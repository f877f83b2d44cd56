"""A search space: one domain per configuration key, sampled define-by-run."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

from mnist_hpo.spaces.catalog import CATALOG, ParamSpec, blocks, config_key, is_active
from mnist_hpo.spaces.domains import Domain, Fixed, TrialLike


@dataclass(frozen=True)
class Space:
    """What may be tried: a domain for every parameter of the catalog.

    Attributes:
        name: Preset name, or the ``name`` given in a YAML file.
        description: One line for ``mnist-hpo spaces``.
        epochs: Training epochs per configuration (the maximum, under early stopping).
        domains: Flat configuration key (``learning_rate``, ``filters_2``) → domain. Per-block
            keys go up to the largest depth the space allows.
        source: ``preset`` or the path of the YAML file.
    """

    name: str
    description: str
    epochs: int
    domains: Mapping[str, Domain]
    source: str = "preset"

    def keys(self) -> Iterator[tuple[str, ParamSpec, int | None]]:
        """Configuration keys in sampling order, with their catalog entry and block."""
        for spec in CATALOG.values():
            for block in blocks(spec):
                key = config_key(spec.name, block)
                if key in self.domains:
                    yield key, spec, block

    def suggest(self, trial: TrialLike) -> dict[str, Any]:
        """Sample one configuration through an Optuna trial (define-by-run).

        Conditional parameters are only suggested when active, so a study records
        ``filters_3`` only for trials whose ``conv_blocks`` reached 3. Fixed values are
        returned without being suggested: the sampler has nothing to learn about them.
        Usable directly as ``ray.tune.search.optuna.OptunaSearch(space=space.suggest)``.
        """
        config: dict[str, Any] = {}
        for key, spec, block in self.keys():
            if is_active(spec, block, config):
                config[key] = self.domains[key].sample(trial, key)
        return config

    def contains(self, config: Mapping[str, Any]) -> bool:
        """Whether this space can produce exactly this (resolved) configuration."""
        expected: dict[str, Domain] = {}
        for key, spec, block in self.keys():
            if is_active(spec, block, config):
                expected[key] = self.domains[key]
        return set(expected) == set(config) and all(
            domain.contains(config[key]) for key, domain in expected.items())

    def fixed_config(self) -> dict[str, Any] | None:
        """The single configuration of a space that samples nothing; ``None`` otherwise."""
        if self.searched:
            return None
        config: dict[str, Any] = {}
        for key, spec, block in self.keys():
            if is_active(spec, block, config):
                config[key] = cast(Fixed, self.domains[key]).value
        return config

    @property
    def searched(self) -> list[str]:
        """Keys that are sampled (not fixed)."""
        return [k for k, d in self.domains.items() if not isinstance(d, Fixed)]

    def to_yaml_dict(self) -> dict[str, Any]:
        """The YAML form of this space; :func:`mnist_hpo.spaces.load_space` reads it back
        unchanged."""
        params: dict[str, Any] = {}
        for spec in CATALOG.values():
            forms = [self.domains[config_key(spec.name, b)].to_yaml()
                     for b in blocks(spec) if config_key(spec.name, b) in self.domains]
            if not forms:
                continue
            same = spec.per_block and all(f == forms[0] for f in forms)
            params[spec.name] = forms if spec.per_block and not same else forms[0]
        return {"name": self.name, "description": self.description,
                "epochs": self.epochs, "params": params}
