"""What the driver's calls cost: real CPU time, call by call, and a cProfile of a sample of
them (``benchmarks/simulator.py`` times every call it makes to the policy and the sampler).
"""

from __future__ import annotations

import cProfile
import random
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class Samples:
    """The calls of one kind: CPU seconds each (less the timed calls made inside it), the
    trials created when it was made, and whether it ran under the profiler."""

    seconds: array[float] = field(default_factory=lambda: array("d"))
    history: array[int] = field(default_factory=lambda: array("l"))  # trials created
    profiled: array[int] = field(default_factory=lambda: array("b"))


class Clock:
    """The driver's real CPU time (``time.process_time``), call by call, per kind.

    A call made inside another timed call (the policy's admission inside the searcher's
    ``suggest``) counts for its own kind only: the outer call's time excludes it. A
    :meth:`part` (the snapshot a policy call is asked with) is timed on its own as well, but
    stays in the time of the call it is part of.

    Args:
        profile_every: Run 1 in this many of the driver's calls (with the calls inside
            them) under cProfile, drawn at random with a fixed seed: every kind of call and
            every stage of the search is sampled alike (0: never). Their times carry
            cProfile's overhead; they are flagged ``profiled``.
    """

    def __init__(self, profile_every: int = 0) -> None:
        self.samples: dict[str, Samples] = {}
        self.history = 0  # trials created so far: what a decision's cost may grow with
        self.every = profile_every
        self.profile = cProfile.Profile() if profile_every else None
        self.calls = self.calls_profiled = 0  # the driver's calls, not those inside them
        self._draw = random.Random(0)
        self._profiling = False
        self._stack: list[float] = []

    def call(self, kind: str, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``, timed as a decision of ``kind``."""
        top = not self._stack
        if top:
            self.calls += 1
            self._profiling = self.every > 0 and self._draw.random() * self.every < 1
            self.calls_profiled += self._profiling
        if top and self.profile is not None and self._profiling:
            self.profile.enable()
        self._stack.append(0.0)
        start = time.process_time()
        try:
            return fn(*args)
        finally:
            spent = time.process_time() - start
            inner = self._stack.pop()
            if top and self.profile is not None and self._profiling:
                self.profile.disable()
            if self._stack:
                self._stack[-1] += spent
            self._record(kind, spent - inner)

    def part(self, kind: str, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``, timed as ``kind`` and left in the time of the enclosing call."""
        start = time.process_time()
        out = fn(*args)
        self._record(kind, time.process_time() - start)
        return out

    def _record(self, kind: str, seconds: float) -> None:
        samples = self.samples.setdefault(kind, Samples())
        samples.seconds.append(seconds)
        samples.history.append(self.history)
        samples.profiled.append(self._profiling)
