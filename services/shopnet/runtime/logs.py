"""`shopnet logs`: print an instance's log file, optionally following it like `tail -f`."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from shopnet.errors import StateError


def show(path: Path, *, follow: bool, poll: float = 0.25) -> int:
    try:
        log = open(path, "rb")  # noqa: SIM115 - kept open while following
    except FileNotFoundError:
        raise StateError(f"no log at {path}") from None
    out = sys.stdout.buffer
    with log:
        out.write(log.read())
        out.flush()
        while follow:
            chunk = log.read()
            if chunk:
                out.write(chunk)
                out.flush()
            else:
                time.sleep(poll)
    return 0
