"""The experiment folder's ``plan`` file (:data:`~.names.PLAN_FILE`): what the planned end
of a budget decided, as the search's scheduler writes it (``search/tune/plan_records.py``)
and the status line, the search's conclusion and a user read it.

``{"budget": {...}, "phase": "finalists", "finalists": [...], "changes": [...]}``: the
budget planned for, the phase now (``breadth`` or ``finalists``), the finalists, and every
change of phase or finalists, each with when, what was left, and a time budget's estimate
(docs/experiment-folder.md#plan).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mnist_hpo.search.experiment.names import PLAN_FILE


def read_plan(experiment: Path) -> dict[str, Any] | None:
    """The ``plan`` file of ``experiment`` (None: none, or not readable yet)."""
    try:
        plan = json.loads((experiment / PLAN_FILE).read_text())
    except (OSError, ValueError):
        return None
    return plan if isinstance(plan, dict) else None


def plan_summary(plan: dict[str, Any]) -> dict[str, Any]:
    """What ``search.json`` keeps of a plan at the end: the phase it ended in, when it
    turned to the finalists (the first such change), and the finalists' trial numbers."""
    turned = next((c for c in plan.get("changes", []) if c.get("phase") == "finalists"),
                  None)
    return {"phase": plan.get("phase"),
            "finalists": [f.get("trial") for f in plan.get("finalists", [])],
            "turned_to_finalists": None if turned is None else {
                k: turned.get(k) for k in ("at", "time_left_s", "epochs_spent")}}
