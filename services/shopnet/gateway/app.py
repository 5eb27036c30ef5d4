"""The gateway app: the route table wired to forwarders, discovery, and the upstream session.

`create_app(cfg)` builds one process's app; `run(cfg)` serves it, in `cfg.workers`
processes when asked (see shopnet.gateway.workers).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from shopnet.common.app import create_base_app, serve
from shopnet.common.health import READINESS_CHECKS
from shopnet.common.http import NotFound
from shopnet.common.metrics import METRICS
from shopnet.gateway import openapi
from shopnet.gateway.config import GatewayConfig
from shopnet.gateway.discovery import Discovery
from shopnet.gateway.keys import DISCOVERY, FORWARDERS, GATEWAY_CONFIG, GATEWAY_METRICS
from shopnet.gateway.metrics import GatewayMetrics
from shopnet.gateway.proxy import Forwarder
from shopnet.gateway.routes import ROUTES, Route

_GC_YOUNG_THRESHOLD = 10_000  # CPython's default is 700


def create_app(cfg: GatewayConfig, *, routes: tuple[Route, ...] = ROUTES) -> web.Application:
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
    forwarders = {
        route.prefix: Forwarder(route, discovery.pools[route.service], metrics, cfg)
        for route in routes
    }
    app[FORWARDERS] = forwarders

    app.cleanup_ctx.append(_upstream_session)
    app.cleanup_ctx.append(discovery.watching)

    openapi.install(app)
    for route in routes:
        handler = forwarders[route.prefix].handle
        app.router.add_route("*", route.prefix, handler)
        app.router.add_route("*", route.prefix + "/{tail:.*}", handler)
    app.router.add_route("*", "/api/{tail:.*}", _no_route)
    return app


async def _no_route(request: web.Request) -> web.Response:
    raise NotFound(f"no API route for {request.path}")


async def _upstream_session(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the one client session (and connection pool) to every upstream."""
    cfg = app[GATEWAY_CONFIG]
    connector = aiohttp.TCPConnector(
        limit=cfg.upstream_connections,
        limit_per_host=cfg.upstream_connections_per_instance,
        keepalive_timeout=cfg.upstream_keepalive_seconds,
        # Instances are addresses from the registry: no DNS on the hot path.
        use_dns_cache=True,
        ttl_dns_cache=None,
    )
    session = aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),  # a proxy must not keep its callers' cookies
        auto_decompress=False,  # pass encoded bodies through as they are
        # Forward the caller's headers as sent: add no User-Agent/Accept/Accept-Encoding.
        skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
        timeout=aiohttp.ClientTimeout(total=cfg.total_timeout_seconds),
    )
    # aiohttp silently resends GET/PUT/DELETE once, to the same instance, when a
    # connection breaks; retries are the forwarder's job (another instance, counted,
    # bounded), and one layer of retries is enough.
    session._retry_connection = False
    for forwarder in app[FORWARDERS].values():
        forwarder.session = session
    try:
        yield
    finally:
        for forwarder in app[FORWARDERS].values():
            forwarder.session = None
        await session.close()


def run(cfg: GatewayConfig) -> int:
    """Serve the gateway until SIGTERM/SIGINT, in this process or in `cfg.workers` processes.

    Returns the exit status (non-zero when a worker died on its own).
    """
    if cfg.workers > 1:
        from shopnet.gateway.workers import supervise

        return supervise(cfg)
    app = create_app(cfg)
    tune_gc()
    serve(app, cfg)
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
