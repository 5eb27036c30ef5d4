"""The calibration path: a trivial aiohttp JSON handler, measured in the same run.

Absolute req/s on a shared two-core machine say little from one run to the next;
the ratio of the product service to the cheapest aiohttp service on the same
machine, at the same moment, says how much our own code adds. The handler is as
plain as aiohttp allows: one route, no middleware, no access log, on uvloop like
our services, answering a fixed product-sized JSON body.

It runs beside product-1 (same host, or the same namespace) on its own port, as
`python -m shopnet.bench.calibration HOST PORT`.
"""

from __future__ import annotations

import os
import pwd
import signal
import socket
import sys
from pathlib import Path

import orjson
from aiohttp import web

from shopnet.runtime.process import ProcessSpec, unprivileged_user

# The shape and size of a seeded product's JSON, so both paths move the same bytes.
_BODY = orjson.dumps(
    {
        "id": 1,
        "sku": "SKU-000001",
        "name": "Product 1",
        "description": "Deterministic seed product number 1 for the shopnet testbed.",
        "price_cents": 1999,
        "currency": "EUR",
        "stock": 100,
        "created_at": "2026-01-01T00:00:00+00:00",
        "updated_at": "2026-01-01T00:00:00+00:00",
    }
)


async def _product(request: web.Request) -> web.Response:
    return web.Response(body=_BODY, content_type="application/json")


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/products/{id}", _product)
    return app


def spec(*, instance: str, host: str, port: int, log_path: Path) -> ProcessSpec:
    """Started as the caller (the interpreter may sit where only root can reach it, as
    under /root/.pyenv); it drops to an unprivileged user itself once it listens."""
    argv = [sys.executable, "-m", "shopnet.bench.calibration", host, str(port)]
    user = unprivileged_user()
    if user is not None:
        argv.append(user)
    return ProcessSpec(instance=instance, argv=tuple(argv), log_path=log_path)


def _drop_to(name: str) -> None:
    entry = pwd.getpwnam(name)
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)


def main(argv: list[str]) -> None:
    import uvloop

    host, port = argv[0], int(argv[1])
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    uvloop.install()
    sock = socket.create_server((host, port), backlog=1024)
    if len(argv) > 2:  # everything is imported and bound: nothing below needs root
        _drop_to(argv[2])
    web.run_app(create_app(), sock=sock, access_log=None, print=None)


if __name__ == "__main__":
    main(sys.argv[1:])
