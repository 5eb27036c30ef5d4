"""One background task owned by an object: `start()` creates it, `stop()` cancels and awaits it.

The registry watch, the DNS watch and the self-registration each run one endless
loop beside the server; this is their shared lifecycle, so a stop always waits for
the loop to be gone (no task left pending at shutdown, no second loop on restart).
"""

from __future__ import annotations

import asyncio


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
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
