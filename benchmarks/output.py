"""Where a benchmark writes: one rule for every script with a ``--quick`` mode (issue 32).

- ``--out`` (a folder) or ``--json`` (a file) given: there.
- Else a ``--quick`` run: a new temporary folder, ``mnist-hpo-<script>-quick-*``, so that a
  quick check never replaces the figures of a full run.
- Else the script's full-run default.

A ``--quick`` run told to write where a full run's JSON lies refuses before it starts:
one line naming the file, exit 2. It neither merges into that file (the resumable scripts
would find another scale there and start afresh over it) nor writes beside it under
another name. A JSON counts as a quick run's when it records ``"quick": true`` (in its
``args`` or at its top level); any other JSON is taken for a full run's.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: What the refusal says after the file's name: the rule, and the way out.
RULE = ("holds a full run's results, and a --quick run never writes over them: pass "
        "another --out, or none for a temporary folder")


def out_dir(given: str | None, *, quick: bool, default: str, name: str,
            files: Iterable[str]) -> Path:
    """The folder a benchmark writes ``files`` to.

    Args:
        given: ``--out`` as the user typed it, ``None`` when absent.
        quick: whether this is a ``--quick`` run.
        default: the full run's folder.
        name: the script's name, for the temporary folder's prefix.
        files: the JSON files the script writes there, checked by :func:`refuse_full_run`.

    Raises:
        SystemExit: (2) a quick run given a folder that holds a full run's JSON.
    """
    if given is None:
        return Path(tempfile.mkdtemp(prefix=f"mnist-hpo-{name}-quick-")) if quick \
            else Path(default)
    folder = Path(given)
    if quick:
        for file in files:
            refuse_full_run(folder / file)
    return folder


def out_file(given: str | None, *, quick: bool, default: str, name: str) -> Path:
    """The JSON file a benchmark writes (``--json``), by the rule of :func:`out_dir`: a
    quick run without ``--json`` writes ``default``'s file name in a temporary folder."""
    if given is None:
        return out_dir(None, quick=quick, default=str(Path(default).parent), name=name,
                       files=()) / Path(default).name
    path = Path(given)
    if quick:
        refuse_full_run(path)
    return path


def refuse_full_run(path: Path) -> None:
    """Exit 2 with one line if ``path`` holds a JSON that is not a quick run's."""
    if path.exists() and not _is_quick(path):
        print(f"{path} {RULE}", file=sys.stderr)
        raise SystemExit(2)


def _is_quick(path: Path) -> bool:
    try:
        saved: Any = json.loads(path.read_text())
    except (OSError, ValueError):
        return False  # unreadable: not known to be a quick run's, so kept
    if not isinstance(saved, dict):
        return False
    args = saved.get("args")
    return saved.get("quick") is True or (isinstance(args, dict) and args.get("quick") is True)
