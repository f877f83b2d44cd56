"""What the policy answers: plain values an adapter turns into its runner's calls."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Decision(Enum):
    """What a trial that reported an epoch does next."""

    CONTINUE = "CONTINUE"
    #: Free its worker and wait at its rung (promotion-type ASHA).
    PAUSE = "PAUSE"
    STOP = "STOP"


class Admission(Enum):
    """Whether a new configuration may start now."""

    START = "start"
    #: Not now: ask again after the next event.
    WAIT = "wait"
    #: Never: the searcher has no configuration left.
    NO_MORE = "no more"


@dataclass(frozen=True)
class Choice:
    """What a free worker does: resume a paused trial, or (``resume`` None) take the
    runner's pending trial if it has one; ``stop``: paused trials that will never resume."""

    resume: str | None = None
    stop: tuple[str, ...] = ()
