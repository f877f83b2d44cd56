"""Search spaces: what may be tried. Presets (``seed``, ``default``, ``smoke``) and YAML files."""

from __future__ import annotations

from mnist_hpo.spaces.catalog import CATALOG, MAX_CONV_BLOCKS, OPTIMIZERS, ParamSpec
from mnist_hpo.spaces.config import resolve_config
from mnist_hpo.spaces.domains import Choice, Domain, Fixed, FloatRange, IntRange
from mnist_hpo.spaces.errors import SpaceError
from mnist_hpo.spaces.loader import load_space, preset_names, space_from_dict
from mnist_hpo.spaces.sampling import sample_configs
from mnist_hpo.spaces.space import Space

__all__ = [
    "CATALOG",
    "MAX_CONV_BLOCKS",
    "OPTIMIZERS",
    "Choice",
    "Domain",
    "Fixed",
    "FloatRange",
    "IntRange",
    "ParamSpec",
    "Space",
    "SpaceError",
    "load_space",
    "preset_names",
    "resolve_config",
    "sample_configs",
    "space_from_dict",
]
