"""The gateway app: the route table wired to forwarders, discovery, and the upstream client.

`create_app(cfg)` builds one process's app; `run(cfg)` serves it, in `cfg.workers`
processes when asked (see shopnet.gateway.workers). /ready, /metrics and
/registry (the instances discovery sees) are served by the admin listener only
(SHOPNET_ADMIN_PORT), never on the public port.
"""

from __future__ import annotations

import asyncio
import functools
import gc
from collections.abc import AsyncIterator

from aiohttp import web

from shopnet.common import identity
from shopnet.common.admin import ADMIN_APP
from shopnet.common.app import create_base_app, serve
from shopnet.common.background import cancel_and_wait
from shopnet.common.health import READINESS_CHECKS
from shopnet.common.http import NotFound
from shopnet.common.metrics import METRICS
from shopnet.gateway import openapi, paths
from shopnet.gateway.access import Access
from shopnet.gateway.client import UpstreamClient
from shopnet.gateway.config import GatewayConfig
from shopnet.gateway.connection import MAX_ANSWER_BYTES
from shopnet.gateway.discovery import Discovery
from shopnet.gateway.edge import parser_limits
from shopnet.gateway.keys import DISCOVERY, FORWARDERS, GATEWAY_CONFIG, GATEWAY_METRICS
from shopnet.gateway.metrics import GatewayMetrics
from shopnet.gateway.proxy import Forwarder
from shopnet.gateway.ratelimit import RateLimiter
from shopnet.gateway.routes import Route, parse_routes
from shopnet.gateway.workers import supervise

_GC_YOUNG_THRESHOLD = 10_000  # CPython's default is 700


def builtin_routes() -> tuple[Route, ...]:
    from shopnet.spec import BUILTIN

    return tuple(route for spec in BUILTIN.values() for route in spec.routes)


def create_app(
    cfg: GatewayConfig,
    *,
    routes: tuple[Route, ...] | None = None,
    max_answer_bytes: int = MAX_ANSWER_BYTES,
) -> web.Application:
    """The gateway for `routes` (default: its configured ones, else our services' from their
    specs); upstream answers over `max_answer_bytes` become 502."""
    if routes is None:
        routes = parse_routes(cfg.routes) or builtin_routes()
    services = list(dict.fromkeys(route.service for route in routes))
    app = create_base_app(cfg)
    # Our collectors join the base app's registry, so one /metrics shows both.
    metrics = GatewayMetrics(app[METRICS].registry, services)
    discovery = Discovery(cfg, services, metrics)
    app[READINESS_CHECKS].update(
        {f"upstream:{service}": discovery.readiness(service) for service in services}
    )
    app[GATEWAY_CONFIG] = cfg
    app[GATEWAY_METRICS] = metrics
    app[DISCOVERY] = discovery
    key = identity.read_key(cfg.token_key_file) if cfg.token_key_file else None
    limiter = RateLimiter(cfg.rate_per_second, cfg.rate_burst)  # one per worker, every route
    forwarders = {
        route.prefix: Forwarder(
            route,
            discovery.pools[route.service],
            metrics,
            cfg,
            Access(key, limiter, public_reads=route.public_reads),
        )
        for route in routes
    }
    app[FORWARDERS] = forwarders

    app.cleanup_ctx.append(functools.partial(_upstream_client, max_answer_bytes=max_answer_bytes))
    app.cleanup_ctx.append(discovery.watching)

    openapi.install(app)
    registered = []
    for route in routes:
        handler = forwarders[route.prefix].handle
        exact = app.router.add_route("*", route.prefix, handler)
        below = app.router.add_route("*", route.prefix + "/{tail:.*}", handler)
        registered.append((route.prefix, exact, below))
    app.router.add_route("*", "/api/{tail:.*}", _no_route)
    # The public listener serves the proxy path without aiohttp's server or router; what
    # it hands to aiohttp (shopnet.common.front_listener) takes the routes above.
    paths.install(app, registered, forwarders)
    if ADMIN_APP in app:
        app[ADMIN_APP].router.add_get("/registry", discovery.view)
    return app


async def _no_route(request: web.Request) -> web.Response:
    raise NotFound(f"no API route for {request.path}")


async def _upstream_client(app: web.Application, *, max_answer_bytes: int) -> AsyncIterator[None]:
    """cleanup_ctx: the one upstream client (keep-alive connections to every instance)."""
    cfg = app[GATEWAY_CONFIG]
    # It never retries on the forwarder's behalf (beyond resending a repeatable request
    # once on a fresh connection when a pooled one turns out closed): retries are the
    # forwarder's job (another instance, counted, bounded), and one layer is enough.
    client = UpstreamClient(
        max_connections=cfg.upstream_connections,
        max_per_endpoint=cfg.upstream_connections_per_instance,
        keepalive_seconds=cfg.upstream_keepalive_seconds,
        max_answer_bytes=max_answer_bytes,
    )
    sweeper = asyncio.create_task(client.sweep_idle(), name="gateway-idle-connections")
    for forwarder in app[FORWARDERS].values():
        forwarder.client = client
    try:
        yield
    finally:
        for forwarder in app[FORWARDERS].values():
            forwarder.client = None
        await cancel_and_wait(sweeper)
        client.close()


def run(cfg: GatewayConfig) -> int:
    """Serve the gateway until SIGTERM/SIGINT, in this process or in `cfg.workers` processes.

    Returns the exit status (non-zero when a worker died on its own).
    """
    if cfg.workers > 1:
        return supervise(cfg)
    app = create_app(cfg)
    tune_gc()
    serve(app, cfg, runner_options=parser_limits(cfg.max_header_bytes))
    return 0


def tune_gc() -> None:
    """Keep the cyclic garbage collector out of the latency tail (call once, before serving).

    Measured here under load with CPython's defaults: a full collection every ~0.5 s
    taking 10-16 ms (it walks every object of aiohttp, yarl, prometheus_client...),
    which lands straight in p99; and young collections every ~30 requests, because 64
    requests in flight keep more than 700 fresh objects alive at once. Freezing moves
    everything allocated at start-up out of the collector's sight, and a higher young
    threshold lets reference counting free a request's objects before any collection.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_YOUNG_THRESHOLD, 50, 100)
