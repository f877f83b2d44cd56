"""The pure policy (``mnist_hpo.search.policy``) reproduces today's golden decision traces.

The same world and scenarios as ``tests/test_golden_traces.py``, driven through
:class:`golden_events.PolicySearch`: every entry of every trace must come out identical,
except where :data:`CHANGED` says otherwise. Those are decisions today's code takes from
what the policy by design cannot see (a controller it cached before a kill, a scheduler
that forgot its rungs at a resume); from their first changed entry on, the policy's own
trace is pinned in ``tests/golden/policy/<scenario>.json``. No Ray runtime, no Optuna.

Rewrite the policy's own traces (and read the diff before committing it)::

    MNIST_HPO_WRITE_GOLDEN=1 python -m pytest tests/test_policy_golden.py
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from golden_events import PolicySearch, World
from test_golden_traces import GOLDEN, SCENARIOS, Scenario

WRITE = os.environ.get("MNIST_HPO_WRITE_GOLDEN") == "1"
OWN = GOLDEN / "policy"

#: Scenario → (the first entry that differs from today's trace, why).
CHANGED: dict[str, tuple[int, str]] = {
    "promotion-epoch-budget-resume": (
        39, "Today's gate answers from the Ray controller the scheduler cached in its last "
        "callback; the scheduler restored at a resume has none, and its first answer is "
        "'draw' whatever the plan says (golden entry 39: ask t07, draw, after 'held back' "
        "before the kill). The policy answers from the snapshot: 22 epochs spent, 38 - 16 "
        "reserved, the finalists t05 and t04 unfinished, so it holds t07 back and resumes "
        "t05 (entry 39: choose t05). Both finalists then reach epoch 9 and the budget ends "
        "with none cut: the scenario's KNOWN WRONG (t04 cut at epoch 8) is gone."),
    "asha-epoch-budget-resume": (
        44, "Ray's ASHAScheduler is restored as pickled when the search began, with empty "
        "rungs: t09, the first to report after the kill, passes every rung alone (golden "
        "entry 44: CONTINUE at 0.9229). The policy rebuilds its rungs from the trials' "
        "records at a resume, as the promotion rule always did: 0.9229 is below the "
        "cutoff of the eight results at rung 1 (0.9607), so t09 stops (entry 44: STOP)."),
}


def policy_trace(scenario: Scenario) -> list[dict[str, Any]]:
    return World(scenario, PolicySearch(scenario.flags)).run()


def first_difference(want: list[dict[str, Any]], got: list[dict[str, Any]]) -> int | None:
    for i, (a, b) in enumerate(zip(want, got, strict=False)):
        if a != b:
            return i
    return None if len(want) == len(got) else min(len(want), len(got))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_the_policy_gives_the_golden_trace(scenario: Scenario) -> None:
    stored = json.loads((GOLDEN / f"{scenario.name}.json").read_text(encoding="utf-8"))
    want, got = stored["trace"], policy_trace(scenario)
    i = first_difference(want, got)
    if scenario.name in CHANGED:
        at, why = CHANGED[scenario.name]
        assert i == at, f"{scenario.name}: first difference at entry {i}, listed at {at}"
        path = OWN / f"{scenario.name}.json"
        if WRITE:
            OWN.mkdir(exist_ok=True)
            record = {"scenario": scenario.name, "changed_from": f"tests/golden/{path.name}",
                      "first_changed_entry": at, "why": why}
            head = "".join(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},\n"
                           for k, v in record.items())
            body = ",\n".join(f"    {json.dumps(e)}" for e in got)
            path.write_text("{\n" + head + '  "trace": [\n' + body + "\n  ]\n}\n",
                            encoding="utf-8")
        own = json.loads(path.read_text(encoding="utf-8"))
        assert own["first_changed_entry"] == at and own["why"] == why
        assert got == own["trace"]
        return
    if i is not None:
        before = "\n".join(json.dumps(e) for e in got[max(0, i - 6):i])
        pytest.fail(f"{scenario.name}: entry {i} differs.\n  golden: "
                    f"{json.dumps(want[i]) if i < len(want) else None}\n  policy: "
                    f"{json.dumps(got[i]) if i < len(got) else None}\nafter:\n{before}")


def test_the_policy_trains_every_finalist_to_its_last_epoch_across_a_kill() -> None:
    """The known-wrong case of promotion-epoch-budget-resume, as the policy decides it."""
    trace = policy_trace(next(s for s in SCENARIOS
                              if s.name == "promotion-epoch-budget-resume"))
    end = next(e for e in trace if "stop_all" in e)
    assert not any(state.startswith("RUNNING") for state in end["unfinished"].values())
    assert [e["ask"] for e in trace[39:] if "ask" in e] == []  # nothing drawn past the turn
    finals = {e["result"] for e in trace if e.get("epoch") == 9}
    assert finals == {"t01", "t02", "t04", "t05"}
