"""Resolve one concrete configuration: fill the seed's defaults, reject what cannot be built."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mnist_hpo.spaces.catalog import (
    CATALOG,
    blocks,
    config_key,
    default_value,
    inactive_reason,
    is_active,
)
from mnist_hpo.spaces.errors import SpaceError


def resolve_config(partial: Mapping[str, Any], source: str = "configuration") -> dict[str, Any]:
    """Complete and validate a configuration.

    Keys left out take the seed network's values; every value is checked against the
    catalog's rules. The result holds exactly the active keys, in sampling order.

    Args:
        partial: Configuration keys (``conv_blocks``, ``filters_1``, ``learning_rate``...).
        source: Named in error messages (a file path, ``--config``).

    Raises:
        SpaceError: an unknown key, a value that breaks its rule, or a key that is inactive
            (``filters_3`` with ``conv_blocks: 2``; ``momentum`` without ``sgd``).
    """
    if not isinstance(partial, Mapping):
        raise SpaceError(f"{source}: a configuration is a mapping of parameter to value, "
                         f"got {type(partial).__name__}")
    known = {config_key(s.name, b) for s in CATALOG.values() for b in blocks(s)}
    unknown = sorted(set(partial) - known)
    if unknown:
        raise SpaceError(f"{source}: unknown parameter {unknown[0]!r}; known parameters: "
                         f"{', '.join(CATALOG)} (per-block ones as filters_1, kernel_size_1...)")
    config: dict[str, Any] = {}
    for spec in CATALOG.values():
        for block in blocks(spec):
            key = config_key(spec.name, block)
            if is_active(spec, block, config):
                value = partial.get(key, default_value(spec, block))
                config[key] = spec.check(value, f"{source}: {key}")
            elif key in partial:
                raise SpaceError(f"{source}: {key} is inactive because "
                                 f"{inactive_reason(spec, block, config)}; remove it")
    return config
