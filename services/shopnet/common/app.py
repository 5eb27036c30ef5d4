"""The frame every service is built in: a base aiohttp app, and `serve()` to run it.

`create_base_app` gives each service the shared middleware (request ids, JSON
errors, metrics), /health, /ready and /metrics — on an admin listener of their
own when the config names an admin port (shopnet.common.admin); a service adds
its routes, readiness checks and cleanup contexts.

`serve` runs the app the way an orchestrator expects: listen, then register in
the registry and heartbeat; on SIGTERM or SIGINT deregister first, give
watchers a moment to move traffic away, stop accepting, drain in-flight requests,
then close pools (cleanup contexts) and exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from typing import Any

import aiohttp
from aiohttp import web, web_response

from shopnet.common import logs
from shopnet.common.admin import ADMIN_APP, create_admin_app
from shopnet.common.config import ServiceConfig
from shopnet.common.health import READINESS_CHECKS, ReadinessCheck, health, ready
from shopnet.common.http import make_request_middleware
from shopnet.common.metrics import METRICS, ServiceMetrics, metrics_handler
from shopnet.common.protocol import BoundedAppRunner, ClientLimits
from shopnet.common.registry_client import (
    InstanceInfo,
    Registration,
    RegistryClient,
    read_token_file,
)

log = logging.getLogger("shopnet.app")

CONFIG = web.AppKey("config", ServiceConfig)
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})
SERVER_NAME = "shopnet"
"""What our `Server` header says: no framework, no versions."""


def hide_server_version() -> None:
    """Answer `Server: shopnet` instead of aiohttp's `Python/3.x aiohttp/3.y`.

    aiohttp fills the header in from this module-level name when it writes any
    response head, including the ones it writes itself for requests that never
    reach the app (malformed, oversized), which no middleware or signal sees; so
    the name is the one place that covers every answer, at no cost per request.
    """
    # Not in aiohttp's declared exports, but the global its response heads read.
    web_response.SERVER_SOFTWARE = SERVER_NAME  # type: ignore[attr-defined]


def create_base_app(
    cfg: ServiceConfig, *, readiness: dict[str, ReadinessCheck] | None = None
) -> web.Application:
    metrics = ServiceMetrics(cfg.service)
    app = web.Application(
        middlewares=[make_request_middleware(metrics.record)],
        client_max_size=cfg.max_body_bytes,
    )
    hide_server_version()
    app[CONFIG] = cfg
    app[METRICS] = metrics
    app[READINESS_CHECKS] = dict(readiness or {})
    app.router.add_get("/health", health)
    if cfg.admin_port:
        app[ADMIN_APP] = create_admin_app(app)
    else:
        app.router.add_get("/ready", ready)
        app.router.add_get("/metrics", metrics_handler)
    return app


def listening_socket(bind: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A bound, listening TCP socket; with reuse_port, several worker processes share it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((bind, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def client_limits(cfg: ServiceConfig) -> ClientLimits:
    """What one client may cost the service's public listener (shopnet.common.protocol)."""
    return ClientLimits(
        head_timeout=cfg.head_timeout_seconds,
        keepalive_timeout=cfg.keepalive_seconds,
        max_connections=cfg.max_connections,
    )


def access_log_options(cfg: ServiceConfig) -> dict[str, Any]:
    """The runner's access log: JSON lines when SHOPNET_ACCESS_LOG is on, else none (then
    the listener's own protocol may serve a hot path: shopnet.common.front_path)."""
    return {
        "access_log_class": logs.JsonAccessLogger,
        "access_log": logging.getLogger("shopnet.access") if cfg.access_log else None,
    }


async def _serve(
    app: web.Application,
    cfg: ServiceConfig,
    sock: socket.socket | None,
    admin_sock: socket.socket | None,
    runner_options: dict[str, int],
) -> None:
    # Before anything starts: a missing token file is a configuration error, not a retry.
    token = read_token_file(cfg.registry_token_file) if cfg.register else None
    identity = (
        read_token_file(cfg.registration_secret_file, what="registration secret")
        if cfg.register and cfg.registration_secret_file
        else None
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    # A process that kept them blocked while starting (gateway workers) takes them now.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    runner = BoundedAppRunner(
        app,
        limits=client_limits(cfg),
        handle_signals=False,
        **access_log_options(cfg),
        # aiohttp waits this long for an in-flight handler, then as long again after asking
        # it to stop (its "cancel" only fails the request body: a handler that does not
        # read it runs on). So in-flight requests take up to half the drain budget.
        shutdown_timeout=cfg.drain_seconds / 4,
        **runner_options,
    )
    await runner.setup()  # startup: pools connect, migrations run; only then listen
    admin_runner = None
    if ADMIN_APP in app:
        admin_runner = web.AppRunner(app[ADMIN_APP], handle_signals=False, access_log=None)
        await admin_runner.setup()
        if admin_sock is None:
            admin_sock = listening_socket(cfg.admin_bind, cfg.admin_port)
        await web.SockSite(admin_runner, admin_sock).start()
        log.info("admin listening", extra={"bind": cfg.admin_bind, "port": cfg.admin_port})
    if sock is None:
        sock = listening_socket(cfg.bind, cfg.port)
    await web.SockSite(runner, sock).start()
    log.info("listening", extra={"bind": cfg.bind, "port": cfg.port})

    registration = None
    session = None
    if cfg.register:
        session = aiohttp.ClientSession()
        registration = Registration(
            RegistryClient(session, cfg.registry_url, token=token, identity=identity),
            InstanceInfo(
                id=cfg.instance_id,
                service=cfg.service,
                address=cfg.advertise_address,  # "" : found by the loop (advertise_via)
                port=cfg.port,
                ttl=cfg.ttl_seconds,
                deregister_after=cfg.deregister_after_seconds,
            ),
            advertise_via=cfg.registry_url,
        )
        registration.start()

    await stop.wait()
    await _drain(cfg, runner, admin_runner, registration, session)


async def _drain(
    cfg: ServiceConfig,
    runner: web.AppRunner,
    admin_runner: web.AppRunner | None,
    registration: Registration | None,
    session: aiohttp.ClientSession | None,
) -> None:
    """Deregister, let watchers move away, stop accepting, drain, close pools — in one budget.

    Every step is bounded and the whole drain is bounded by `drain_seconds`, which
    stays well inside the stop timeout of whoever stops us (15 s), so a stuck step
    shows up in the log by name instead of as a SIGKILL from outside.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    steps: dict[str, float] = {}
    step = "deregister"
    log.info("stopping: deregistering, then draining in-flight requests")
    try:
        async with asyncio.timeout(cfg.drain_seconds):
            if registration is not None:
                await registration.stop()
                steps[step] = loop.time() - started
                step = "grace"
                await asyncio.sleep(cfg.deregister_grace_seconds)
                steps[step] = loop.time() - started
            if session is not None:
                await session.close()
            step = "drain and close pools"
            # Stops accepting, runs on_shutdown, waits for in-flight requests, then cleanup contexts.
            await runner.cleanup()
            if admin_runner is not None:
                await admin_runner.cleanup()
            steps[step] = loop.time() - started
    except TimeoutError:
        stuck = [
            _describe(task) for task in asyncio.all_tasks() if task is not asyncio.current_task()
        ]
        log.error(
            "drain over its %.1f s budget, stuck in %r; exiting anyway",
            cfg.drain_seconds,
            step,
            extra={"steps_s": steps, "pending_tasks": stuck},
        )
        logging.shutdown()
        os._exit(1)  # cancelling tasks that hang could hang too
    log.info("stopped", extra={"drain_s": round(loop.time() - started, 3), "steps_s": steps})


def _describe(task: asyncio.Task[object]) -> str:
    frames = task.get_stack(limit=3)
    where = " < ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in frames)
    return f"{task.get_name()} at {where}"


def serve(
    app: web.Application,
    cfg: ServiceConfig,
    sock: socket.socket | None = None,
    *,
    admin_sock: socket.socket | None = None,
    runner_options: dict[str, int] | None = None,
) -> None:
    """Run `app` until SIGTERM/SIGINT, on uvloop.

    `sock` and `admin_sock` are for workers sharing the ports; `runner_options` go to
    aiohttp's AppRunner (e.g. the gateway's parser limits).
    """
    import uvloop

    uvloop.run(_serve(app, cfg, sock, admin_sock, runner_options or {}))
