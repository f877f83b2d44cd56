"""The study's journal file: Optuna's format, written without an fsync per line.

Optuna's ``JournalFileBackend`` takes its file lock, appends and fsyncs for every log, and
the searcher writes about 28 logs per trial (a trial, each of its ~18 parameters, its user
attributes, each epoch's value, its end). On Ray's bookkeeping workload (2,000 one-second
trials on 16 CPUs) that was 11,162 fsyncs for 400 trials, a millisecond each on the
driver's one thread (benchmarks/ray_bookkeeping.py --profile).

:class:`JournalFile` writes the same lines to the same file under the same lock, so Optuna,
optuna-dashboard and another Optuna writer read and write it as before. What changes is when
the lines reach the disk itself: each append is handed to the operating system at once (a
``write`` on a file opened for appending), so a process killed at any point, ``kill -9``
included, loses nothing it appended, and a reader sees it at once; the disk is asked to
persist it (``fsync``) at most once per :data:`SYNC_EVERY_S` seconds, so a machine that
loses power can lose the last second of logs, as with Redis's ``appendfsync everysec``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from optuna.storages import JournalStorage
from optuna.storages.journal import (
    BaseJournalBackend,
    JournalFileBackend,
    JournalFileSymlinkLock,
)

#: The longest a log waits for an fsync: the next append after this many seconds syncs.
SYNC_EVERY_S = 1.0


class JournalFile(BaseJournalBackend):
    """Optuna's journal file at ``path``: read as Optuna reads it, appended under Optuna's
    lock (the same lock file), each append written through to the operating system and
    fsynced when the last fsync is :data:`SYNC_EVERY_S` old.

    Args:
        path: The journal file (created if missing).
        clock: Seconds, for the fsync period (tests pass their own).
    """

    def __init__(self, path: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._path = path
        # Reading is Optuna's own: it keeps the byte offset of each log read, skips a line
        # another process is still writing, and creates the file.
        self._reader = JournalFileBackend(path)
        self._lock = JournalFileSymlinkLock(path)
        self._clock = clock
        self._synced_at: float | None = None  # never: the first append syncs

    def read_logs(self, log_number_from: int) -> Iterable[dict[str, Any]]:
        return self._reader.read_logs(log_number_from)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        # One line per log, as JournalFileBackend writes them.
        lines = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs)
        now = self._clock()
        sync = self._synced_at is None or now - self._synced_at >= SYNC_EVERY_S
        self._lock.acquire()
        try:
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                data = lines.encode("utf-8")
                while data:  # a regular file takes it in one write; a short one goes on
                    data = data[os.write(fd, data):]
                if sync:
                    os.fsync(fd)
                    self._synced_at = now
            finally:
                os.close(fd)
        finally:
            self._lock.release()

    def __getstate__(self) -> dict[str, Any]:
        # Pickled with the searcher (Ray's tuner.pkl): a restored one syncs at its first
        # append, and reads with the default clock.
        return {"_path": self._path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["_path"])  # type: ignore[misc]


def open_journal(path: Path) -> JournalStorage:
    """The study's journal file storage at ``path`` (created on first write): safe with
    several writers, and what ``optuna-dashboard PATH`` opens (:class:`JournalFile`)."""
    return JournalStorage(JournalFile(str(path)))
