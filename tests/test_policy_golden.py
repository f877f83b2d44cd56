"""The pure policy (``mnist_hpo.search.policy``) gives the golden decision traces alone.

The same world and scenarios as ``tests/test_golden_traces.py``, driven through
:class:`golden_events.PolicySearch`: the policy fed snapshots the adapter of the golden
world makes, with no Ray, no Optuna. ``tests/test_golden_traces.py`` drives the product's
Ray adapters (``search/tune/scheduler.py`` and the searcher, as ``factories.py`` builds
them) through the same scenarios; both must give every entry of every stored trace. So a
difference between the two layers is either the policy's (both fail) or the adapters'
(only the Ray one fails).

Two traces were changed on purpose when the product began to decide through the policy
(issue 30): ``promotion-epoch-budget-resume`` and ``asha-epoch-budget-resume`` (their
``about`` says which decision and why).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from golden_events import PolicySearch, World
from test_golden_traces import GOLDEN, SCENARIOS, Scenario


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
    if i is not None:
        before = "\n".join(json.dumps(e) for e in got[max(0, i - 6):i])
        pytest.fail(f"{scenario.name}: entry {i} differs.\n  golden: "
                    f"{json.dumps(want[i]) if i < len(want) else None}\n  policy: "
                    f"{json.dumps(got[i]) if i < len(got) else None}\nafter:\n{before}")
