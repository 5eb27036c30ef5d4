"""Through the gateway, upstreams that answer in ways aiohttp apps never do: chunked
bodies, answers that come too late or too large, connections closed under a request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from shopnet.gateway.app import create_app
from tests.gateway.conftest import Stack, errors, metric, wait_for_pool
from tests.gateway.scripted import Received, Reply, Script, ScriptedUpstream, answer


@pytest.fixture
async def scripted() -> AsyncIterator[list[ScriptedUpstream]]:
    started: list[ScriptedUpstream] = []
    yield started
    for upstream in started:
        await upstream.stop()


@pytest.fixture
def start(stack: Stack, scripted: list[ScriptedUpstream]):
    async def start(instance_id: str, script: Script) -> ScriptedUpstream:
        upstream = await ScriptedUpstream(script).start()
        scripted.append(upstream)
        await stack.register(instance_id, port=upstream.port)
        return upstream

    return start


async def test_chunked_answer_is_passed_with_a_length(stack: Stack, start) -> None:
    await start(
        "product-1",
        lambda _: Reply(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n"
            b"Trailer: X-Sum\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\nX-Sum: 1\r\n\r\n"
        ),
    )
    gateway = await stack.gateway(expect={"product": 1})
    resp = await gateway.get("/api/products/1")
    assert resp.status == 200
    assert await resp.read() == b"abcdef"
    assert resp.headers["Content-Length"] == "6"
    assert "Transfer-Encoding" not in resp.headers
    assert "Trailer" not in resp.headers
    assert "X-Sum" not in resp.headers


async def test_a_late_answer_is_never_served_to_the_next_request(stack: Stack, start) -> None:
    def script(req: Received) -> Reply:
        if req.connection == 0:  # the first try: answered after the gateway gave up
            return Reply(answer(b'{"late":true}'), delay=0.6)
        return Reply(answer(b'{"fresh":true}'))

    upstream = await start("product-1", script)
    gateway = await stack.gateway(expect={"product": 1}, try_timeout_seconds=0.3)
    assert (await gateway.get("/api/products/1")).status == 504
    resp = await gateway.get("/api/products/1")
    assert resp.status == 200
    assert await resp.read() == b'{"fresh":true}'
    assert upstream.accepted == 2


def closes_reused_connections(req: Received) -> Reply:
    """Answers the first request on a connection, closes the connection on the next one
    without a word: the keep-alive race, every time."""
    if req.number == 0:
        return Reply(answer(b'{"ok":true}'))
    return Reply(close=True)


async def test_keep_alive_race_get_is_resent_on_a_fresh_connection(stack: Stack, start) -> None:
    upstream = await start("product-1", closes_reused_connections)
    gateway = await stack.gateway(expect={"product": 1})
    for _ in range(3):
        resp = await gateway.get("/api/products/1")
        assert resp.status == 200
    # Not a failure of the instance, and not a retry: the same instance, once more.
    assert await errors(gateway, "disconnect") == 0
    assert await metric(gateway, "shopnet_gateway_retries_total", service="product") == 0
    assert [r.number for r in upstream.seen] == [0, 1, 0, 1, 0]


async def test_keep_alive_race_post_is_not_resent(stack: Stack, start) -> None:
    upstream = await start("product-1", closes_reused_connections)
    gateway = await stack.gateway(expect={"product": 1})
    assert (await gateway.post("/api/products", json={"sku": "a"})).status == 200
    resp = await gateway.post("/api/products", json={"sku": "b"})
    assert resp.status == 502
    assert (await resp.json())["error"]["code"] == "bad_gateway"
    assert [r.body for r in upstream.seen] == [b'{"sku": "a"}', b'{"sku": "b"}']
    assert await errors(gateway, "disconnect") == 1


async def test_answer_over_the_cap_is_502_and_not_retried(stack: Stack, start) -> None:
    big = await start("product-a-big", lambda _: Reply(answer(b"x" * 5000)))
    good = await start("product-b-good", lambda _: Reply(answer()))
    gateway = await stack.serve(create_app(stack.config(), max_answer_bytes=4096))
    await wait_for_pool(gateway, {"product": 2})
    resp = await gateway.get("/api/products/1")
    assert resp.status == 502
    error = (await resp.json())["error"]
    assert error["code"] == "bad_gateway"
    assert "over 4096 bytes" in error["message"]
    assert (len(big.seen), len(good.seen)) == (1, 0)
    assert await errors(gateway, "disconnect") == 1


async def test_header_fields_pass_as_the_bytes_received(stack: Stack, start) -> None:
    await start(
        "product-1",
        lambda _: Reply(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Odd: caf\xe9 \xff\r\n"
            b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Request-ID: the-upstream-s\r\n"
            b"Server: upstream/1.0\r\nKeep-Alive: timeout=5\r\n\r\nok"
        ),
    )
    gateway = await stack.gateway(expect={"product": 1})
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    try:
        writer.write(b"GET /api/products/1 HTTP/1.1\r\nHost: t\r\nX-Request-ID: mine\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert await reader.readexactly(2) == b"ok"
    finally:
        writer.close()
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert b"X-Odd: caf\xe9 \xff" in lines  # not one byte changed
    assert [line for line in lines if line.startswith(b"Set-Cookie")] == [
        b"Set-Cookie: a=1",
        b"Set-Cookie: b=2",
    ]
    assert [line for line in lines if line.lower().startswith(b"x-request-id")] == [
        b"X-Request-ID: mine"
    ]
    assert b"Server: shopnet" in lines and b"Server: upstream/1.0" not in lines
    assert b"Content-Length: 2" in lines and b"X-Served-By: product-1" in lines
    assert not any(line.lower().startswith(b"keep-alive") for line in lines)
    # aiohttp still adds what it adds to every answer: a date, a default type.
    assert any(line.startswith(b"Date: ") for line in lines)
    assert b"Content-Type: application/octet-stream" in lines
