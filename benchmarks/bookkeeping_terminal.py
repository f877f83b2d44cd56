"""The user's terminal, stood for by a pseudo-terminal: mnist-hpo's stacks draw their status
line and trial lines on it as on a user's (``benchmarks/ray_bookkeeping.py``)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import termios
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class Terminal:
    """A pseudo-terminal that stands for the user's: output written to :attr:`stream`
    (a tty, so the product draws its status line) is read and counted, then dropped."""

    stream: TextIO
    master: int
    bytes: int = 0
    reader: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: the terminal's last writer closed it
                return
            if not chunk:
                return
            self.bytes += len(chunk)


@contextlib.contextmanager
def pseudo_terminal() -> Iterator[Terminal]:
    """Standard output on a pseudo-terminal (50 × 160) for the length of the block."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    stream = open(slave, "w", encoding="utf-8", buffering=1)  # noqa: SIM115 (closed below)
    terminal = Terminal(stream, master)
    try:
        with contextlib.redirect_stdout(stream):
            yield terminal
    finally:
        stream.close()
        terminal.reader.join(timeout=10)
        os.close(master)
