"""Serving an app in tests the way `shopnet serve` does: with its front handler, if any."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer

from shopnet.common.protocol import FrontAppRunner


class ServedAsDeployed(TestServer):
    """A TestServer whose runner installs the app's FRONT_HANDLER, as serve() does."""

    async def _make_runner(self, **kwargs: Any) -> FrontAppRunner:
        return FrontAppRunner(self.app, **kwargs)
