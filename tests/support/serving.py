"""Serving an app in tests the way `shopnet serve` does: with its front handler and front
protocol, if any, under the client limits of its configuration."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer

from shopnet.common.app import CONFIG, access_log_options, client_limits
from shopnet.common.protocol import BoundedAppRunner, FrontAppRunner


class ServedAsDeployed(TestServer):
    """A TestServer whose runner is serve()'s: a BoundedAppRunner with the limits and access
    log of the app's config, and `runner_options` as serve() is given them (the gateway:
    shopnet.gateway.edge.parser_limits)."""

    def __init__(
        self, app: Any, *, runner_options: dict[str, int] | None = None, **kw: Any
    ) -> None:
        super().__init__(app, **kw)
        self._runner_options = runner_options or {}

    async def _make_runner(self, **kwargs: Any) -> FrontAppRunner:
        if CONFIG not in self.app:  # a bare app: its front handler, no limits
            return FrontAppRunner(self.app, **kwargs)
        cfg = self.app[CONFIG]
        options = {**access_log_options(cfg), **self._runner_options, **kwargs}
        return BoundedAppRunner(self.app, limits=client_limits(cfg), **options)
