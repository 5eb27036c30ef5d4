"""Backpressure on the public listener's own protocol (shopnet.common.front_listener): a
client that pipelines without reading costs the gateway one write buffer, not every
answer, and other clients are served as usual. Real sockets, a real upstream app."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web

from tests.gateway.conftest import Stack
from tests.support.waiting import until

FLOOD = 20_000
REQUEST = b"GET /api/products?page_size=100 HTTP/1.1\r\nHost: shop\r\n\r\n"
# What a page of 100 products weighs: about 17 KB per answer, 340 MB for the flood.
PAGE = orjson.dumps({"items": [{"id": n, "name": "p" * 150} for n in range(100)]})


def rss() -> int:
    """This process's resident set (the gateway runs in it), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def test_a_client_that_never_reads_costs_one_buffer_and_others_are_served(
    stack: Stack,
) -> None:
    served = 0

    async def page(request: web.Request) -> web.Response:
        nonlocal served
        served += 1
        return web.Response(body=PAGE, content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    upstream = await stack.start_server(app)
    assert upstream.port is not None
    await stack.register("product-1", port=upstream.port)
    gateway = await stack.gateway(expect={"product": 1})
    port = gateway.server.port
    assert port is not None
    before = rss()

    # The attacker: a small receive buffer it never reads, and 20,000 requests (1 MB).
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    # What the gateway does not read waits in the kernel's buffers and this task's.
    flood = asyncio.create_task(loop.sock_sendall(sock, REQUEST * FLOOD))

    peak = before
    seen, still_since = -1, time.monotonic()

    def stalled() -> bool:
        """Until the gateway stops serving the flood (or has served it all)."""
        nonlocal peak, seen, still_since
        peak = max(peak, rss())
        if served != seen:
            seen, still_since = served, time.monotonic()
        return served >= FLOOD or time.monotonic() - still_since > 0.5

    await until(stalled, timeout=60, interval=0.05)
    assert served < 1_000, f"the gateway served {served} answers nobody reads"

    latencies = []
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            started = time.perf_counter()
            async with session.get(f"http://127.0.0.1:{port}/api/products?page_size=100") as r:
                assert r.status == 200
                await r.read()
            latencies.append(time.perf_counter() - started)
            peak = max(peak, rss())
    p99 = sorted(latencies)[int(len(latencies) * 0.99) - 1]
    assert p99 < 0.05, f"p99 {p99 * 1000:.1f} ms beside the flood"
    assert peak - before < 20 << 20, f"grew {(peak - before) >> 20} MiB"
    print(
        f"served {served} of the flood; p99 {p99 * 1000:.1f} ms; grew {(peak - before) >> 10} KiB"
    )
    flood.cancel()
    sock.close()
