"""One background task owned by an object: `start()` creates it, `stop()` cancels and awaits it.

The registry watch, the DNS watch and the self-registration each run one endless
loop beside the server; this is their shared lifecycle, so a stop always waits for
the loop to be gone (no task left pending at shutdown, no second loop on restart).

`cancel_and_wait` is how every background task of the services is stopped. A single
`task.cancel()` is not enough on Python 3.11: `asyncio.wait_for` returns the inner
result when the cancellation arrives between that result and its own wake-up, and the
cancellation is lost. redis-py uses it for every command it sends, so an endless loop
cancelled mid-command (a cache probe pinging every 50 ms is mid-command most of the time
on a loaded machine) carries on forever, and its app's cleanup waits for it.

Re-cancelling alone only makes that unlikely: each cancel lands somewhere random, and a
probe pinging back to back lost eight in a row here, twenty (two seconds) once in CI.
So the endless loops wait with `pause`, which ends them at their next wait when a
cancellation was swallowed on the way: a lost cancel still counts in
`Task.cancelling()`, as nothing uncancels it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("shopnet.background")

RECANCEL_SECONDS = 0.1
"""How long a cancelled task gets to end before it is cancelled again."""


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and wait until it has ended, cancelling again while it runs on.

    An error it had ended with earlier is logged, not raised: the stop goes on."""
    while not task.done():
        task.cancel()
        await asyncio.wait((task,), timeout=RECANCEL_SECONDS)
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.warning(
            "background task %s had failed: %s: %s", task.get_name(), type(exc).__name__, exc
        )


async def pause(seconds: float) -> None:
    """`asyncio.sleep` for an endless background loop: raises CancelledError at once when
    the task was cancelled and something on the way swallowed it (see above)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
    await asyncio.sleep(seconds)


class BackgroundLoop:
    """Subclasses implement `_run` (the loop) and name the task in `task_name`."""

    _task: asyncio.Task[None] | None = None

    @property
    def task_name(self) -> str:
        return type(self).__name__

    async def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.task_name)

    async def stop(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            await cancel_and_wait(task)
