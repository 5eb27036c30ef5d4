"""Slow and abusive clients are bounded below the app (shopnet.common.protocol): head and
body read timeouts answer a JSON 408, a worker's connections are capped, protocol errors
are JSON and logged as one WARNING line without a traceback. Real sockets, a real server."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from shopnet.common.app import create_base_app
from shopnet.common.protocol import BoundedAppRunner, ClientLimits
from shopnet.common.validation import read_body
from shopnet.registry.config import RegistryConfig
from tests.support.registry import bindings_of
from tests.support.servers import free_port
from tests.support.waiting import until

LIMITS = ClientLimits(head_timeout=0.4, keepalive_timeout=1.5, max_connections=3)


@pytest.fixture
async def port(registry_token_file: str) -> AsyncIterator[int]:
    cfg = RegistryConfig.from_env(
        {}, body_timeout_seconds=0.4, tokens_file=bindings_of(registry_token_file)
    )
    app = create_base_app(cfg)

    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await read_body(request))

    app.router.add_post("/echo", echo)
    runner = BoundedAppRunner(app, limits=LIMITS)
    await runner.setup()
    number = free_port()
    await web.TCPSite(runner, "127.0.0.1", number).start()
    yield number
    await runner.cleanup()


async def exchange(port: int, data: bytes, *, wait: float = 5) -> tuple[bytes, float]:
    """Send `data`, read until the server closes; (what came back, seconds it took)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    writer.write(data)
    try:
        answer = await asyncio.wait_for(reader.read(), wait)
    finally:
        writer.close()
    return answer, time.monotonic() - started


def parse(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), answer
    return int(head.split()[1]), json.loads(body)


async def test_a_trickled_head_is_a_json_408(port: int) -> None:
    answer, took = await exchange(port, b"GET /health HTTP/1.1\r\nHost: x\r\n")
    status, body = parse(answer)
    assert (status, body["error"]["code"]) == (408, "request_timeout")
    assert 0.3 < took < 1.5


async def test_a_trickled_second_head_on_keep_alive_is_408_too(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    first = await reader.readuntil(b"}")
    assert first.startswith(b"HTTP/1.1 200")
    writer.write(b"GET /health HTTP/1.1\r\n")
    rest = await asyncio.wait_for(reader.read(), 3)
    writer.close()
    assert b" 408 " in rest.split(b"\r\n")[0]


async def test_an_idle_connection_is_closed_quietly_by_keep_alive(port: int) -> None:
    answer, took = await exchange(port, b"")
    assert answer == b""
    assert 1.0 < took < 3.5


async def test_a_trickled_body_is_a_json_408(port: int) -> None:
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    answer, took = await exchange(port, head + b"x" * 10)
    status, body = parse(answer)
    assert (status, body["error"]["code"]) == (408, "request_timeout")
    assert took < 0.4 + LIMITS.lingering_time + 1  # the answer, a short drain, closed


async def test_connections_past_the_cap_get_a_json_503(port: int) -> None:
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(LIMITS.max_connections)]
    try:
        answer, _ = await exchange(port, b"")
        status, body = parse(answer)
        assert (status, body["error"]["code"]) == (503, "unavailable")
    finally:
        for _, writer in held:
            writer.close()

    async def accepted_again() -> bool:
        request = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        return (await exchange(port, request))[0].startswith(b"HTTP/1.1 200")

    await until(accepted_again, timeout=5)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n",
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /health HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(200)) + b"\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    ],
    ids=["garbage", "long-header", "long-line", "many-headers", "bad-length"],
)
async def test_protocol_errors_are_json_and_one_warning_line(
    port: int, request_bytes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answer, _ = await exchange(port, request_bytes)
    status, body = parse(answer)
    assert status == 400 and body["error"]["code"] == "bad_request"
    assert body["error"]["request_id"]
    ours = [r for r in caplog.records if r.name == "shopnet.protocol"]
    assert [r.levelno for r in ours] == [logging.WARNING]
    assert all(r.exc_info is None for r in caplog.records if r.levelno >= logging.WARNING)
