"""Read spaces: the built-in presets (YAML files beside this module) and users' YAML files.

A preset and a user's file go through the same code, so both obey the same rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mnist_hpo.spaces.catalog import CATALOG, blocks, config_key, default_value
from mnist_hpo.spaces.domains import Domain, Fixed
from mnist_hpo.spaces.errors import SpaceError
from mnist_hpo.spaces.parse import parse_domain
from mnist_hpo.spaces.space import Space

PRESETS_DIR = Path(__file__).with_name("presets")
_TOP_KEYS = {"name", "description", "epochs", "params"}


def preset_names() -> list[str]:
    """Names of the built-in spaces."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_space(name_or_path: str | Path) -> Space:
    """Load a preset by name (``seed``, ``default``, ``smoke``) or a YAML space file by path.

    Raises:
        SpaceError: the name is neither, the file cannot be read, or it breaks a rule.
    """
    text = str(name_or_path)
    if text in preset_names():
        return _load_file(PRESETS_DIR / f"{text}.yaml", source="preset")
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return _load_file(path, source=str(path))
    raise SpaceError(f"space {text!r}: not a preset ({', '.join(preset_names())}) "
                     f"nor a YAML file")


def _load_file(path: Path, source: str) -> Space:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as err:
        raise SpaceError(f"space file {path}: cannot read it ({err.strerror})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise SpaceError(f"space file {path}: not valid YAML{at}") from None
    return space_from_dict(data, source=source, default_name=path.stem)


def space_from_dict(data: Any, source: str = "<dict>", default_name: str = "custom") -> Space:
    """Build a :class:`Space` from its YAML form (see docs/spaces.md).

    Parameters left out keep the seed network's value, so a file names only what it varies.
    """
    where = source if source != "preset" else f"preset {default_name!r}"
    if not isinstance(data, dict):
        raise SpaceError(f"{where}: a space is a mapping with keys {', '.join(sorted(_TOP_KEYS))}")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise SpaceError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                         f"allowed: {', '.join(sorted(_TOP_KEYS))}")
    epochs = data.get("epochs", 5)
    if not isinstance(epochs, int) or isinstance(epochs, bool) or not 1 <= epochs <= 1000:
        raise SpaceError(f"{where}: epochs={epochs!r} must be an integer, 1 <= epochs <= 1000")
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise SpaceError(f"{where}: params must be a mapping of parameter name to value or range")
    for name in params:
        if name not in CATALOG:
            raise SpaceError(f"{where}: unknown parameter {name!r}; known parameters: "
                             f"{', '.join(CATALOG)}")
    return Space(name=str(data.get("name", default_name)),
                 description=str(data.get("description", "")),
                 epochs=epochs, domains=_domains(params, where), source=source)


def _domains(params: dict[str, Any], where: str) -> dict[str, Domain]:
    domains: dict[str, Domain] = {}
    for spec in CATALOG.values():
        for block in blocks(spec):
            key = config_key(spec.name, block)
            if spec.name not in params:
                domains[key] = Fixed(default_value(spec, block))
                continue
            raw = params[spec.name]
            if block is None:
                domains[key] = parse_domain(spec, raw, f"{where}: {spec.name}")
            elif isinstance(raw, list):
                depth = _max_depth(domains)
                if len(raw) < depth:
                    raise SpaceError(f"{where}: {spec.name} lists {len(raw)} block(s) but "
                                     f"conv_blocks reaches {depth}; give one per block")
                if block <= len(raw):
                    domains[key] = parse_domain(spec, raw[block - 1], f"{where}: {key}")
            else:
                domains[key] = parse_domain(spec, raw, f"{where}: {spec.name}")
    depth = _max_depth(domains)
    return {k: d for k, d in domains.items() if _block_of(k) <= depth}


def _max_depth(domains: dict[str, Domain]) -> int:
    return int(domains["conv_blocks"].upper())


def _block_of(key: str) -> int:
    name, _, suffix = key.rpartition("_")
    return int(suffix) if name in CATALOG and CATALOG[name].per_block else 0
