"""Test helper: the writing end of a FIFO that a pagecols process reads."""

from __future__ import annotations

import os
import time
from pathlib import Path


def open_for_writing(fifo: Path, *, within: float = 60) -> int:
    """A non-blocking descriptor on ``fifo``, once a reader has opened it (within ``within`` s)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            assert time.monotonic() < deadline, "the command never opened its input"
            time.sleep(0.02)
