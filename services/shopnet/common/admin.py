"""The admin listener: /health, /ready and /metrics on a port of their own.

A service whose config names an admin port (the gateway, the public edge) keeps
these off its public port: its readiness shows which upstreams it has and its
metrics show traffic, neither of which a client on 8080 should learn. The admin
app answers for the service app it belongs to (same metrics, same readiness
checks); it is bound where only the host reaches it (netns: a firewall rule for
the host alone; docker: never published; local: loopback).
"""

from __future__ import annotations

from aiohttp import web

from shopnet.common.health import health, ready_response
from shopnet.common.http import make_request_middleware
from shopnet.common.metrics import metrics_response

ADMIN_APP = web.AppKey("admin_app", web.Application)
"""On a service app that has an admin listener: the app that listener serves."""


def create_admin_app(app: web.Application) -> web.Application:
    """The admin app of `app`; services add their own admin routes to it (before serving)."""
    admin = web.Application(middlewares=[make_request_middleware()])

    async def admin_ready(request: web.Request) -> web.Response:
        return await ready_response(app)

    async def admin_metrics(request: web.Request) -> web.Response:
        return metrics_response(app)

    admin.router.add_get("/health", health)
    admin.router.add_get("/ready", admin_ready)
    admin.router.add_get("/metrics", admin_metrics)
    return admin
