"""Progress output for long commands: one line per step, with elapsed time, on stderr."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


class Progress:
    """Prints `[  1.2s] message` lines; `quiet` silences everything but warnings."""

    def __init__(self, stream: TextIO = sys.stderr, *, quiet: bool = False) -> None:
        self._stream = stream
        self._quiet = quiet
        self._started = time.monotonic()

    def _emit(self, text: str) -> None:
        elapsed = time.monotonic() - self._started
        self._stream.write(f"[{elapsed:6.1f}s] {text}\n")
        self._stream.flush()

    def info(self, text: str) -> None:
        if not self._quiet:
            self._emit(text)

    def always(self, text: str) -> None:
        """What the user needs even with `quiet` (the dashboard's URL)."""
        self._emit(text)

    def warn(self, text: str) -> None:
        self._emit(f"warning: {text}")

    @contextmanager
    def step(self, text: str) -> Iterator[None]:
        """Announce a step, then report how long it took (or that it failed)."""
        self.info(f"{text} …")
        started = time.monotonic()
        try:
            yield
        except BaseException:
            self.info(f"{text}: failed")
            raise
        self.info(f"{text}: done ({time.monotonic() - started:.1f}s)")
