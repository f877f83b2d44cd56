"""How a search stands, as its manifest (``search.json``) records it: one type, not strings."""

from __future__ import annotations

from enum import Enum
from typing import Any


class SearchStatus(Enum):
    """The ``status`` field of ``search.json``.

    A search is RUNNING while its driver runs. It ends FINISHED (every planned trial ran),
    on its time or epoch budget (spent: the trials in flight were stopped for good), or
    paused: INTERRUPTED (Ctrl-C, a lost driver) or on its FAILURE_BUDGET (fix the cause),
    which ``mnist-hpo resume`` continues, trials in flight included.
    """

    RUNNING = "running"
    FINISHED = "finished"
    TIME_BUDGET = "time budget reached"
    EPOCH_BUDGET = "epoch budget reached"
    FAILURE_BUDGET = "failure budget reached"
    INTERRUPTED = "interrupted"

    @classmethod
    def of(cls, manifest: dict[str, Any]) -> SearchStatus:
        """The status a manifest records (RUNNING when it has none yet).

        Raises:
            ValueError: a status this version does not know, named in the message.
        """
        text = manifest.get("status") or cls.RUNNING.value
        try:
            return cls(text)
        except ValueError:
            known = ", ".join(s.value for s in cls)
            raise ValueError(f"search.json: unknown status {text!r} (known: {known})") from None

    @property
    def ended(self) -> bool:
        """No driver runs the search any more: nothing will change until a user acts."""
        return self is not SearchStatus.RUNNING

    @property
    def resumable(self) -> bool:
        """Paused: ``mnist-hpo resume`` continues it, its unfinished trials included."""
        return self in (SearchStatus.INTERRUPTED, SearchStatus.FAILURE_BUDGET)

    @property
    def budget_spent(self) -> bool:
        """Ended by its time or epoch budget: the trials in flight then were cut there."""
        return self in (SearchStatus.TIME_BUDGET, SearchStatus.EPOCH_BUDGET)

    @property
    def concluded(self) -> bool:
        """Ended for good: a trial that had not finished was stopped and will not go on."""
        return self.ended and not self.resumable
