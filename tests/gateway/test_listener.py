"""The public listener's own protocol (shopnet.common.front_listener) with the gateway's
proxy path (shopnet.gateway.paths): the proxy path without aiohttp's server, everything
else handed to it, the edge's bounds kept. Real sockets."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from tests.gateway.conftest import Stack
from tests.support import tokens
from tests.support.wire import (
    connect,
    count_aiohttp_requests,
    raw_answer,
    read_answer,
    until_closed,
)


def json_error(data: bytes) -> tuple[int, str, str | None]:
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), data
    error = json.loads(body)["error"]
    return int(head.split()[1]), error["code"], error["request_id"]


@pytest.fixture
def aiohttp_requests(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the requests aiohttp's server made a request object for (but the
    upstreams', aiohttp apps in this process too, which see /products and /orders)."""
    return count_aiohttp_requests(monkeypatch, skip=("/products", "/orders"))


async def test_pipelined_requests_are_answered_in_order_and_others_go_to_aiohttp(
    stack: Stack, aiohttp_requests: list[str]
) -> None:
    await stack.upstream("product-1", delay=0.05)
    gateway = await stack.gateway(expect={"product": 1})
    reader, writer = await connect(gateway)
    ids = ["p-1", "p-2", "p-3"]
    writer.write(
        b"".join(
            f"GET /api/products/{n} HTTP/1.1\r\nHost: x\r\nX-Request-ID: {rid}\r\n\r\n".encode()
            for n, rid in enumerate(ids)
        )
    )
    for n, rid in enumerate(ids):
        status, fields, body = await read_answer(reader)
        assert (status, fields["x-request-id"]) == (200, rid)
        assert json.loads(body)["path"] == f"/products/{n}"
        assert fields["server"] == "shopnet" and fields["x-served-by"] == "product-1"
        assert "date" in fields
    assert aiohttp_requests == []  # the proxy path never made an aiohttp request

    # A request aiohttp must answer, pipelined between two proxied ones: still in order,
    # and the connection (now aiohttp's) keeps serving the proxy path. In one packet, the
    # packet goes to aiohttp whole (as one with a request it refuses must: see
    # test_differential).
    writer.write(
        b"GET /api/products/7 HTTP/1.1\r\nHost: x\r\nX-Request-ID: a\r\n\r\n"
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-Request-ID: b\r\n\r\n"
        b"GET /api/products/8 HTTP/1.1\r\nHost: x\r\nX-Request-ID: c\r\n\r\n"
    )
    answers = [await read_answer(reader) for _ in range(3)]
    assert [(s, f["x-request-id"]) for s, f, _ in answers] == [(200, "a"), (200, "b"), (200, "c")]
    assert json.loads(answers[0][2])["path"] == "/products/7"
    assert json.loads(answers[2][2])["path"] == "/products/8"
    assert aiohttp_requests == ["/api/products/7", "/health", "/api/products/8"]
    writer.close()


async def test_head_and_bodies_on_the_proxy_path(stack: Stack, aiohttp_requests) -> None:
    product = await stack.upstream("product-1")
    gateway = await stack.gateway(expect={"product": 1})
    resp = await gateway.head("/api/products/1")
    assert resp.status == 200 and await resp.read() == b""
    assert int(resp.headers["Content-Length"]) > 0  # the upstream's
    resp = await gateway.post("/api/products", data=b'{"a": 1}')
    assert resp.status == 200
    assert product.seen[-1]["body"] == b'{"a": 1}'
    assert aiohttp_requests == []

    # A body that does not come with its head is read by aiohttp, within its timeout.
    reader, writer = await connect(gateway)
    admin = tokens.ADMIN["Authorization"].encode()
    writer.write(
        b"POST /api/products HTTP/1.1\r\nHost: x\r\nAuthorization: "
        + admin
        + b"\r\nContent-Length: 6\r\n\r\nabc"
    )
    await asyncio.sleep(0.1)
    writer.write(b"def")
    status, _, _ = await read_answer(reader)
    assert status == 200 and product.seen[-1]["body"] == b"abcdef"
    assert aiohttp_requests == ["/api/products"]
    writer.close()


async def test_a_trickled_head_is_a_json_408(stack: Stack) -> None:
    await stack.upstream("product-1")
    gateway = await stack.gateway(expect={"product": 1}, head_timeout_seconds=0.4)
    reader, writer = await connect(gateway)
    writer.write(b"GET /api/products/1 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await read_answer(reader))[0] == 200
    writer.write(b"GET /api/products/1 HTTP/1.1\r\nHost:")
    data, took = await until_closed(reader)
    writer.close()
    assert json_error(data)[:2] == (408, "request_timeout")
    assert 0.3 < took < 1.5


async def test_an_idle_connection_is_closed_by_keep_alive(stack: Stack) -> None:
    gateway = await stack.gateway(keepalive_seconds=0.5)
    reader, writer = await connect(gateway)
    data, took = await until_closed(reader)
    writer.close()
    assert data == b"" and 0.4 < took < 2.5


async def test_connections_past_the_cap_get_a_json_503(stack: Stack) -> None:
    await stack.upstream("product-1")
    gateway = await stack.gateway(expect={"product": 1}, max_connections=3)
    held = [await connect(gateway) for _ in range(3)]
    reader, writer = await connect(gateway)
    data, _ = await until_closed(reader)
    assert json_error(data)[:2] == (503, "unavailable")
    for _, held_writer in held:
        held_writer.close()
    writer.close()


async def test_oversized_heads_are_json_errors(stack: Stack, caplog) -> None:
    product = await stack.upstream("product-1")
    gateway = await stack.gateway(expect={"product": 1})
    cases = [
        (b"X-Big: " + b"a" * 9000, 431, "header_fields_too_large"),  # upstreams refuse it
        (b"X-Huge: " + b"a" * 40000, 431, "header_fields_too_large"),  # refused as it came
    ]
    for field, status, code in cases:
        reader, writer = await connect(gateway)
        writer.write(b"GET /api/products/1 HTTP/1.1\r\nHost: x\r\n" + field + b"\r\n\r\n")
        got_status, fields, body = await read_answer(reader)
        writer.close()
        error = json.loads(body)["error"]
        assert (got_status, error["code"]) == (status, code)
        assert fields["content-type"] == "application/json" and error["request_id"]
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    reader, writer = await connect(gateway)
    writer.write(b"GARBAGE\r\n\r\n")
    data, _ = await until_closed(reader)
    writer.close()
    assert json_error(data)[:2] == (400, "bad_request")
    ours = [r for r in caplog.records if r.name == "shopnet.protocol"]
    assert [r.levelno for r in ours] == [logging.WARNING] and ours[0].exc_info is None
    assert product.hits == 0


async def test_the_drain_finishes_a_request_in_flight(stack: Stack) -> None:
    await stack.upstream("product-1", delay=0.5)
    gateway = await stack.gateway(expect={"product": 1})
    reader, writer = await connect(gateway)
    idle_reader, idle_writer = await connect(gateway)
    writer.write(b"GET /api/products/1 HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.sleep(0.1)  # in flight
    assert gateway.server.runner is not None
    drain = asyncio.create_task(gateway.server.runner.cleanup())  # what SIGTERM runs
    status, fields, _ = await read_answer(reader)
    assert (status, fields["connection"]) == (200, "close")
    assert (await until_closed(reader))[0] == b""
    assert (await until_closed(idle_reader))[0] == b""  # idle: closed at once
    await asyncio.wait_for(drain, 5)
    writer.close()
    idle_writer.close()


async def test_answers_are_the_bytes_aiohttp_would_write(stack: Stack, aiohttp_requests) -> None:
    await stack.upstream(
        "product-1", response_headers={"X-Extra": "a", "Cache-Control": "no-store"}
    )
    gateway = await stack.gateway(expect={"product": 1})
    requests = [
        b"GET /api/products/1?q=a%20b HTTP/1.1\r\nHost: x\r\nX-Request-ID: same\r\n\r\n",
        b"HEAD /api/products/1 HTTP/1.1\r\nHost: x\r\nX-Request-ID: same\r\n\r\n",
        b"POST /api/products HTTP/1.1\r\nHost: x\r\nX-Request-ID: same\r\n"
        b"Content-Length: 2\r\n\r\n{}",
        b"GET /api/products/../metrics HTTP/1.1\r\nHost: x\r\nX-Request-ID: same\r\n\r\n",
    ]

    async def answers(reader, writer) -> list[bytes]:
        got = []
        for request in requests:
            writer.write(request)
            got.append(await raw_answer(reader, head_only=request.startswith(b"HEAD")))
        return got

    own_reader, own_writer = await connect(gateway)
    ours = await answers(own_reader, own_writer)
    own_writer.close()
    assert aiohttp_requests == []
    reader, writer = await connect(gateway)
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    await read_answer(reader)  # the connection is aiohttp's from here
    theirs = await answers(reader, writer)
    writer.close()
    assert len(aiohttp_requests) == 1 + len(requests)
    assert ours == theirs


async def test_heads_aiohttps_parser_refuses_are_its_400s(stack: Stack) -> None:
    """No Host, or a singleton field twice: handed over, aiohttp refuses them as before
    the proxy path had its own protocol (never forwarded)."""
    product = await stack.upstream("product-1")
    gateway = await stack.gateway(expect={"product": 1})
    for head in (
        b"GET /api/products/1 HTTP/1.1\r\n\r\n",
        b"GET /api/products/1 HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
        b"GET /api/products/1 HTTP/1.1\r\nHost: x\r\nContent-Type: a\r\nContent-Type: b\r\n\r\n",
    ):
        reader, writer = await connect(gateway)
        writer.write(head)
        data, _ = await until_closed(reader)
        writer.close()
        assert json_error(data)[:2] == (400, "bad_request"), head
    assert product.hits == 0
