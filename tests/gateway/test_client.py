"""The upstream client (shopnet.gateway.client, .connection) against real servers on loopback.

Framing (Content-Length, chunked, end of connection, HEAD, 1xx), keep-alive reuse and
its limits, the keep-alive race (resend only what may be repeated), timeouts per phase,
cancellation, and the answer size cap.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shopnet.common.registry_client import ServiceInstance
from shopnet.common.upstreams import Endpoint
from shopnet.gateway.client import UpstreamClient
from shopnet.gateway.connection import (
    AnswerTooLarge,
    ConnectError,
    Disconnected,
    UpstreamResponse,
)
from tests.gateway.scripted import Received, Reply, Script, ScriptedUpstream, answer
from tests.support.servers import free_port
from tests.support.waiting import until


@pytest.fixture
async def upstreams() -> AsyncIterator[list[ScriptedUpstream]]:
    started: list[ScriptedUpstream] = []
    yield started
    for upstream in started:
        await upstream.stop()


@pytest.fixture
async def start(upstreams: list[ScriptedUpstream]):
    async def start(script: Script) -> ScriptedUpstream:
        upstream = await ScriptedUpstream(script).start()
        upstreams.append(upstream)
        return upstream

    return start


@pytest.fixture
async def client() -> AsyncIterator[UpstreamClient]:
    client = UpstreamClient(max_connections=16, max_per_endpoint=8, keepalive_seconds=30)
    yield client
    client.close()


def endpoint(port: int) -> Endpoint:
    instance = ServiceInstance(f"product-{port}", "127.0.0.1", port)
    return Endpoint(instance, instance.base_url)


async def call(
    client: UpstreamClient,
    port: int,
    method: str = "GET",
    *,
    body: bytes | None = None,
    repeatable: bool | None = None,
    timeout: float = 2.0,
    connect_timeout: float = 1.0,
) -> UpstreamResponse:
    fields = b"X-Test: 1\r\n"
    if body is not None:
        fields += f"Content-Length: {len(body)}\r\n".encode()
    return await client.request(
        endpoint(port),
        f"{method} /products/1 HTTP/1.1\r\n".encode(),
        fields + b"\r\n",
        body,
        head_only=method == "HEAD",
        repeatable=method in ("GET", "HEAD") if repeatable is None else repeatable,
        timeout=timeout,
        connect_timeout=connect_timeout,
    )


def fixed(data: bytes, **kw: Any) -> Script:
    return lambda _: Reply(data, **kw)


# -- framing -------------------------------------------------------------------------


async def test_request_bytes_and_content_length_answer(start, client: UpstreamClient) -> None:
    upstream = await start(fixed(answer(b'{"id":1}', headers=("X-Cache: HIT",))))
    response = await call(client, upstream.port, "POST", body=b'{"sku":"x"}')
    assert response.status == 200
    assert response.body == b'{"id":1}'
    assert (b"X-Cache", b"HIT") in response.headers
    seen = upstream.seen[0]
    assert (seen.method, seen.target, seen.body) == ("POST", "/products/1", b'{"sku":"x"}')
    assert seen.headers["host"] == f"127.0.0.1:{upstream.port}"
    assert seen.headers["x-test"] == "1"


async def test_large_request_body_is_sent_whole(start, client: UpstreamClient) -> None:
    upstream = await start(fixed(answer()))
    body = bytes(range(256)) * 4096  # 1 MiB: written after the head, not joined to it
    assert (await call(client, upstream.port, "PUT", body=body)).status == 200
    assert upstream.seen[0].body == body


async def test_chunked_answer_is_dechunked_and_trailers_dropped(
    start, client: UpstreamClient
) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n"
    )
    upstream = await start(fixed(chunked))
    for _ in range(2):  # and the connection stays usable
        response = await call(client, upstream.port)
        assert response.body == b"hello world"
        assert [name for name, _ in response.headers] == [b"Transfer-Encoding", b"X-A"]
    assert upstream.accepted == 1


async def test_answer_ended_by_closing_the_connection(start, client: UpstreamClient) -> None:
    upstream = await start(fixed(b"HTTP/1.0 200 OK\r\nX-A: 1\r\n\r\nuntil the end", close=True))
    response = await call(client, upstream.port)
    assert (response.status, response.body) == (200, b"until the end")
    assert (await call(client, upstream.port)).body == b"until the end"
    assert upstream.accepted == 2  # never reused


async def test_head_answer_has_no_body_and_the_connection_stays_in_step(
    start, client: UpstreamClient
) -> None:
    def script(req: Received) -> Reply:
        if req.method == "HEAD":  # the length of the body a GET would get, but no body
            return Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n")
        return Reply(answer(b"the real one"))

    upstream = await start(script)
    head = await call(client, upstream.port, "HEAD")
    assert (head.status, head.body) == (200, b"")
    assert (b"Content-Length", b"12") in head.headers
    get = await call(client, upstream.port)
    assert get.body == b"the real one"
    assert upstream.accepted == 1


async def test_no_body_statuses(start, client: UpstreamClient) -> None:
    upstream = await start(
        lambda req: (
            Reply(b"HTTP/1.1 204 No Content\r\n\r\n")
            if req.number == 0
            else Reply(answer(b"after"))
        )
    )
    assert (await call(client, upstream.port)).status == 204
    assert (await call(client, upstream.port)).body == b"after"
    assert upstream.accepted == 1


async def test_interim_answers_are_skipped(start, client: UpstreamClient) -> None:
    upstream = await start(fixed(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + answer(b"x")))
    response = await call(client, upstream.port)
    assert (response.status, response.body) == (200, b"x")
    assert (b"Link", b"</a>") not in response.headers


async def test_connection_close_answer_is_not_reused(start, client: UpstreamClient) -> None:
    upstream = await start(fixed(answer(headers=("Connection: close",))))
    for _ in range(3):
        assert (await call(client, upstream.port)).status == 200
    assert upstream.accepted == 3
    assert client.idle_connections == 0


async def test_invalid_answer_is_a_disconnect(start, client: UpstreamClient) -> None:
    upstream = await start(fixed(b"SMTP ready\r\n\r\n"))
    with pytest.raises(Disconnected, match="invalid HTTP"):
        await call(client, upstream.port)
    await until(lambda: upstream.open == 0, timeout=2)


async def test_answer_over_the_cap(start) -> None:
    upstream = await start(fixed(answer(b"x" * 2000)))
    small = UpstreamClient(max_connections=4, max_answer_bytes=1000)
    try:
        with pytest.raises(AnswerTooLarge):
            await call(small, upstream.port)
        await until(lambda: upstream.open == 0, timeout=2)  # dropped, not pooled
        assert small.idle_connections == 0
    finally:
        small.close()


# -- keep-alive ----------------------------------------------------------------------


async def test_connections_are_reused(start, client: UpstreamClient) -> None:
    upstream = await start(fixed(answer()))
    for _ in range(5):
        assert (await call(client, upstream.port)).status == 200
    assert upstream.accepted == 1
    assert [r.number for r in upstream.seen] == [0, 1, 2, 3, 4]
    assert client.idle_connections == 1


async def test_idle_connections_expire(start) -> None:
    upstream = await start(fixed(answer()))
    client = UpstreamClient(max_connections=4, keepalive_seconds=0.2)
    sweeper = asyncio.create_task(client.sweep_idle())
    try:
        await call(client, upstream.port)
        assert upstream.open == 1
        await until(lambda: upstream.open == 0, timeout=2)  # closed by the sweeper
        assert client.idle_connections == 0
        await call(client, upstream.port)
        assert upstream.accepted == 2
    finally:
        sweeper.cancel()
        client.close()


async def test_a_connection_the_upstream_closed_while_idle_leaves_the_pool(
    start, client: UpstreamClient
) -> None:
    upstream = await start(fixed(answer(), delay=0.0))
    await call(client, upstream.port)
    await upstream.stop()  # closes its side of the idle connection
    await until(lambda: client.idle_connections == 0, timeout=2)


def closes_reused_connections(req: Received) -> Reply:
    """Answers the first request of every connection; closes instead of answering the
    next: what a client sees when the upstream closes an idle connection just as a
    request goes out on it."""
    if req.number == 0:
        return Reply(answer(f"conn {req.connection}".encode()))
    return Reply(close=True)


async def test_keep_alive_race_resends_a_repeatable_request_once(
    start, client: UpstreamClient
) -> None:
    upstream = await start(closes_reused_connections)
    assert (await call(client, upstream.port)).body == b"conn 0"
    response = await call(client, upstream.port)  # pooled connection closes unanswered
    assert response.body == b"conn 1"
    assert [(r.connection, r.number) for r in upstream.seen] == [(0, 0), (0, 1), (1, 0)]


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_keep_alive_race_does_not_resend_other_requests(
    start, client: UpstreamClient, method: str
) -> None:
    upstream = await start(closes_reused_connections)
    await call(client, upstream.port)
    with pytest.raises(Disconnected):
        await call(client, upstream.port, method, body=b"{}", repeatable=False)
    assert len(upstream.seen) == 2  # it may have been acted on: never sent twice


async def test_closed_unanswered_on_a_fresh_connection_is_not_resent(
    start, client: UpstreamClient
) -> None:
    upstream = await start(fixed(b"", close=True))
    with pytest.raises(Disconnected):
        await call(client, upstream.port)
    assert len(upstream.seen) == 1


async def test_closed_mid_answer_is_a_disconnect(start, client: UpstreamClient) -> None:
    upstream = await start(
        fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", close=True)
    )
    with pytest.raises(Disconnected, match="middle of the answer"):
        await call(client, upstream.port)


# -- limits, timeouts, cancellation --------------------------------------------------


async def test_in_flight_limit_per_endpoint(start) -> None:
    upstream = await start(fixed(answer(), delay=0.1))
    client = UpstreamClient(max_connections=16, max_per_endpoint=2)
    try:
        responses = await asyncio.gather(*(call(client, upstream.port) for _ in range(6)))
        assert all(r.status == 200 for r in responses)
        assert upstream.accepted == 2  # the others waited for a connection in use
    finally:
        client.close()


async def test_waiting_for_a_slot_is_bounded_by_the_connect_timeout(start) -> None:
    upstream = await start(fixed(answer(), delay=1.0))
    client = UpstreamClient(max_connections=1)
    try:
        busy = asyncio.create_task(call(client, upstream.port))
        await until(lambda: len(upstream.seen) == 1, timeout=2)
        started = time.monotonic()
        with pytest.raises(ConnectError, match="no free connection"):
            await call(client, upstream.port, timeout=3.0, connect_timeout=0.2)
        assert 0.2 <= time.monotonic() - started < 0.8
        assert (await busy).status == 200
        assert len(upstream.seen) == 1
    finally:
        client.close()


async def test_refused_is_a_connect_error(client: UpstreamClient) -> None:
    with pytest.raises(ConnectError, match="cannot connect"):
        await call(client, free_port())


async def test_try_timeout_drops_the_connection_and_a_late_answer_is_never_delivered(
    start, client: UpstreamClient
) -> None:
    upstream = await start(
        lambda req: Reply(answer(b"late"), delay=0.5) if req.connection == 0 else Reply(answer())
    )
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await call(client, upstream.port, timeout=0.2)
    assert 0.2 <= time.monotonic() - started < 0.5
    assert (await call(client, upstream.port)).body == b"ok"  # a new connection
    assert upstream.accepted == 2
    assert client.idle_connections == 1
    await until(lambda: upstream.open == 1, timeout=2)  # the timed-out one was closed


async def test_cancelled_request_closes_its_connection(start, client: UpstreamClient) -> None:
    upstream = await start(
        lambda req: Reply(answer(b"late"), delay=0.5) if req.connection == 0 else Reply(answer())
    )
    task = asyncio.create_task(call(client, upstream.port))
    await until(lambda: len(upstream.seen) == 1, timeout=2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert client.idle_connections == 0
    assert (await call(client, upstream.port)).body == b"ok"
    assert upstream.accepted == 2
    await until(lambda: upstream.open == 1, timeout=2)  # the cancelled one was closed
    # The slot of the cancelled request was given back.
    limited = UpstreamClient(max_connections=1)
    try:
        task = asyncio.create_task(call(limited, upstream.port))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await call(limited, upstream.port, connect_timeout=0.2)).status == 200
    finally:
        limited.close()
