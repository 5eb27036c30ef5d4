"""The bench's cache flushes in swarm mode, sent from inside the cache's container.

The host cannot reach an overlay address, so the host-side flush (Driver.cache_flusher)
never reached the swarm's Redis and the bench's product_miss runs measured cache hits.
Here each cache user's (Redis, db) gets one `docker exec -i … redis-cli` for the whole
run, on the engine that runs the cache, and a flush is one EVAL line on its stdin: an
exec per flush, ten a second, would cost the measured machine far more than the flush.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from shopnet.runtime.backup import FLUSH_PREFIX, Flush, flushes
from shopnet.runtime.confine import redis_auth

if TYPE_CHECKING:
    from shopnet_swarm.driver import SwarmDriver


@contextlib.contextmanager
def flusher(driver: SwarmDriver) -> Iterator[Callable[[], None] | None]:
    auth = redis_auth(driver.layout)
    login = ["-e", "REDISCLI_AUTH"] if auth else []
    user = ["--user", auth[0]] if auth else []
    env = {**os.environ, "REDISCLI_AUTH": auth[1]} if auth else None
    sessions: list[tuple[subprocess.Popen[str], str]] = []
    try:
        for item in flushes(driver.topology):
            container = driver.stack.container(f"{item.datastore}-1").name
            argv = [*driver.docker.argv(container), "exec", "-i", *login, container,
                    "redis-cli", *user, "-n", str(item.db)]  # fmt: skip
            session = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, env=env, text=True,
            )  # fmt: skip
            sessions.append((session, command(item)))

        def flush_all() -> None:
            for session, line in sessions:
                with contextlib.suppress(OSError):  # a session that died flushes no more
                    assert session.stdin is not None
                    session.stdin.write(line)
                    session.stdin.flush()

        yield flush_all if sessions else None
    finally:
        for session, _ in sessions:
            with contextlib.suppress(OSError):
                assert session.stdin is not None
                session.stdin.close()
            try:
                session.wait(timeout=10)
            except subprocess.TimeoutExpired:
                session.kill()
                session.wait()


def command(item: Flush) -> str:
    """The EVAL line redis-cli reads: script and pattern quoted as its own parser wants."""
    return f"EVAL {_quoted(FLUSH_PREFIX)} 0 {_quoted(item.pattern)}\n"


def _quoted(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
