"""Where runs write: output folders that never overwrite, JSON written atomically, and the
package versions a result depends on."""

from __future__ import annotations

import json
import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from mnist_hpo.search.errors import UsageError


def check_out_dir(path: str | os.PathLike[str], flag: str = "--out") -> Path:
    """``path`` as a folder a new run may write: absent or empty; a one-line error otherwise.

    Checked before any work, so a mistyped ``--out`` costs nothing and never clobbers an
    earlier run's files.
    """
    out = Path(path)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{flag} {out}: already exists and is not an empty folder; "
                         f"choose a new folder (nothing was overwritten)")
    return out


def claim_out_dir(path: str | os.PathLike[str], flag: str = "--out") -> Path:
    """:func:`check_out_dir`, then create the folder."""
    out = check_out_dir(path, flag)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"{flag} {out}: cannot create it ({err.strerror})") from None
    return out


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON via a temporary file, so readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


PACKAGES = ("mnist-hpo", "tensorflow", "keras", "ray", "optuna", "numpy")


def versions() -> dict[str, str]:
    """Installed versions of the packages a result depends on."""
    found = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            found[pkg] = version(pkg)
        except PackageNotFoundError:
            found[pkg] = "not installed"
    return found
