"""Bounded, ordered fixture teardown: apps close (and their pools with them) before their
test database is dropped, and a pool that outlives its app fails the test at once.

Why: asyncpg (0.32) keeps a pool's connection floor with a background task. A pool still
open when `DROP DATABASE … WITH (FORCE)` kills its sessions starts that task, which retries
against the dropped database with a back-off of up to 60 s; on Python 3.11 a cancellation
that lands while it connects can be swallowed (asyncio.wait_for), so closing the test's
event loop waited on it until the 300 s per-test timeout. Every step here has a bound well
under that timeout, and a pool left open is terminated and reported, never waited on.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Protocol

import asyncpg

from shopnet.common.background import cancel_and_wait

APP_CLOSE_SECONDS = 30.0
"""An app's whole close (drain, cleanup contexts, pools): the services bound theirs to
drain_seconds (10 s by default), so 30 s means something is stuck."""

DROP_SECONDS = 30.0
"""Connecting as admin, waiting for the database's sessions to end, dropping it."""

STOP_SECONDS = 5.0
"""How long a close past its deadline is cancelled again and again before the test fails."""

SESSIONS_GONE_SECONDS = 2.0
"""A closed pool's sessions leave pg_stat_activity within milliseconds; this is slack."""


class Closable(Protocol):
    async def close(self) -> None: ...


class TeardownError(AssertionError):
    """A fixture's teardown found something left behind, or did not finish in time."""


async def close_within(closable: Closable, what: str, seconds: float | None = None) -> None:
    """Close a test client or server (its app, cleanup contexts and pools) within `seconds`.

    The close runs as a task of its own, watched rather than cancelled at the deadline: a
    timeout's single cancellation can be lost in a library's `asyncio.wait_for` (Python
    3.11), which left a stuck close hanging until the 300 s per-test timeout. Past the
    deadline it is cancelled again and again for STOP_SECONDS, and the test fails."""
    seconds = APP_CLOSE_SECONDS if seconds is None else seconds
    closing = asyncio.ensure_future(closable.close())
    await asyncio.wait((closing,), timeout=seconds)
    if closing.done():
        return closing.result()
    running = _other_tasks(closing)
    await asyncio.wait((asyncio.create_task(cancel_and_wait(closing)),), timeout=STOP_SECONDS)
    raise TeardownError(
        f"{what} did not close within {seconds:.0f} s (tasks running then: {running}); "
        + (
            "it ended when cancelled"
            if closing.done()
            else f"still running {STOP_SECONDS:.0f} s later"
        )
    )


def _other_tasks(closing: asyncio.Future[None]) -> str:
    """The names of this loop's other tasks: the one a stuck cleanup waits for is among them."""
    others = asyncio.all_tasks() - {closing, asyncio.current_task()}
    return ", ".join(sorted(t.get_name() for t in others)) or "none"


async def drop_database(admin_dsn: str, name: str, *, seconds: float = DROP_SECONDS) -> list[str]:
    """Drop test database `name`; returns the sessions still on it when its test ended.

    Sessions left means a pool or connection outlived its test: every asyncpg pool of this
    event loop still open on `name` is terminated first, so that its floor-keeping task
    does not start retrying against the dropped database.
    """
    try:
        async with asyncio.timeout(seconds):
            admin = await asyncpg.connect(admin_dsn, timeout=10)
            try:
                left = await _sessions_left(admin, name)
                if left:
                    terminate_open_pools(name)
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()
    except TimeoutError:
        raise TeardownError(f"dropping test database {name} took over {seconds:.0f} s") from None
    return left


async def _sessions_left(admin: asyncpg.Connection, name: str) -> list[str]:
    """The other sessions on `name`, after giving just-closed ones a moment to go."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SESSIONS_GONE_SECONDS
    while True:
        rows = await admin.fetch(
            "SELECT pid, state, application_name FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        if not rows or loop.time() >= deadline:
            return [f"pid {r['pid']} ({r['state'] or 'starting'})" for r in rows]
        await asyncio.sleep(0.05)


def terminate_open_pools(database: str) -> int:
    """Terminate every asyncpg pool of the running loop still open on `database`.

    A test cannot reach a pool its fixtures lost, so the garbage collector's view is the
    only handle left; the DSN is asyncpg's private record of what the pool connects to.
    """
    loop = asyncio.get_running_loop()
    count = 0
    for obj in gc.get_objects():
        if (
            isinstance(obj, asyncpg.Pool)
            and getattr(obj, "_loop", None) is loop
            and not obj.is_closing()
            and any(database in str(arg) for arg in getattr(obj, "_connect_args", ()))
        ):
            obj.terminate()
            count += 1
    return count
