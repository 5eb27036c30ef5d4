"""GET /products/{id} on the listener's own protocol (shopnet.product.front): the bytes
aiohttp would write, everything else handed to aiohttp and answered as before, the same
metrics. Real PostgreSQL and Redis, real sockets."""

from __future__ import annotations

import logging
import re

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from shopnet.common.protocol import FRONT_PROTOCOL
from shopnet.product.app import create_app
from shopnet.product.cache import product_key
from tests.product.conftest import MakeConfig
from tests.product.helpers import metric
from tests.support.servers import PostgresServer
from tests.support.serving import ServedAsDeployed
from tests.support.wire import connect, count_aiohttp_requests, raw_answer, read_answer

_MINTED_ID = re.compile(rb'(X-Request-ID: |"request_id":")[0-9a-f]{16}\b')


def minted_masked(answer: bytes) -> bytes:
    """`answer` with the request ids a server made up (16 hex digits) as `minted`."""
    return _MINTED_ID.sub(rb"\1minted", answer)


@pytest.fixture
def aiohttp_requests(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the requests aiohttp's server made a request object for (a test asks
    for it before the app it counts: the server takes the factory when it starts)."""
    return count_aiohttp_requests(monkeypatch)


def get(path: str, request_id: str | None = "same", extra: str = "") -> bytes:
    rid = f"X-Request-ID: {request_id}\r\n" if request_id else ""
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n{rid}{extra}\r\n".encode()


async def aiohttps_connection(client: TestClient):
    """A connection the protocol has handed to aiohttp (GET /health does that)."""
    reader, writer = await connect(client)
    writer.write(get("/health"))
    await read_answer(reader)
    return reader, writer


PATHS = [
    ("/products/1", get("/products/1")),
    ("/products/1", get("/products/1", request_id=None)),  # a minted id, masked below
    ("/products/2", get("/products/2")),
    ("/products/999999", get("/products/999999")),
    ("/products/1", get("/products/1", extra="Connection: close\r\n")),
]


async def test_hit_miss_404_and_close_are_the_bytes_aiohttp_writes(
    aiohttp_requests: list[str], seeded: TestClient, redis_url: str
) -> None:
    redis = aioredis.from_url(redis_url)
    await seeded.get("/products/1")  # cached from here

    async def answers(reader, writer) -> list[bytes]:
        got = []
        for path, request in PATHS:
            if path == "/products/2":
                await redis.delete(product_key(2))  # a miss
            writer.write(request)
            got.append(minted_masked(await raw_answer(reader)))
        assert await reader.read() == b""  # closed after `Connection: close`
        writer.close()
        return got

    try:
        ours = await answers(*await connect(seeded))
        assert aiohttp_requests == []
        theirs = await answers(*await aiohttps_connection(seeded))
    finally:
        await redis.aclose()
    assert aiohttp_requests == ["/health", *(path for path, _ in PATHS)]
    assert [b"X-Cache: HIT" in a for a in ours] == [True, True, False, False, True]
    assert b"X-Cache: MISS" in ours[2] and b"X-Request-ID: minted" in ours[1]
    assert ours[3].startswith(b"HTTP/1.1 404 Not Found") and b'"not_found"' in ours[3]
    assert b"Connection: close" in ours[4]
    assert ours == theirs


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (get("/products/1?x=1"), 400),  # an unknown query parameter
        (get("/products/1?", extra="X-Request-ID: other\r\n"), 200),
        (get("/products/1?"), 200),
        (get("/products/01"), 200),  # path_int takes it; not the canonical form
        (get("/products/0"), 400),
        (get("/products/-1"), 400),
        (get("/products/%31"), 200),
        (get("/products/99999999999999999999"), 400),
        (get("/products/1/"), 404),
        (get("/products/1", extra="Content-Length: 2\r\n") + b"{}", 200),
        (get("/products/1", extra="Transfer-Encoding: chunked\r\n") + b"0\r\n\r\n", 200),
        (b"HEAD /products/1 HTTP/1.1\r\nHost: x\r\nX-Request-ID: same\r\n\r\n", 200),
        (b"POST /products/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405),
        # heads aiohttp's parser refuses: its 400, as before
        (b"GET /products/1 HTTP/1.1\r\nX-Request-ID: same\r\n\r\n", 400),
        (get("/products/1", extra="Host: y\r\n"), 400),
        (get("/products/1", extra="Sec-WebSocket-Key1: a\r\n"), 400),
        (b"GET /products/1 HTTP/1.0\r\nX-Request-ID: same\r\n\r\n", 200),
    ],
)
async def test_everything_else_is_aiohttps_and_answered_as_before(
    aiohttp_requests: list[str], seeded: TestClient, request_bytes: bytes, status: int
) -> None:
    """A request the front path declines gets, on a fresh connection, the answer aiohttp
    gives it on a connection that is already its own."""
    await seeded.get("/products/1")
    head_only = request_bytes.startswith(b"HEAD")
    answers = []
    for reader, writer in (await connect(seeded), await aiohttps_connection(seeded)):
        writer.write(request_bytes)
        answers.append(minted_masked(await raw_answer(reader, head_only=head_only)))
        writer.close()
    assert answers[0] == answers[1]
    assert re.match(rb"HTTP/1\.[01] %d " % status, answers[0]), answers[0]
    assert len(aiohttp_requests) == 3  # the GET /health, and the request twice


async def test_pipelined_requests_are_answered_in_order(
    aiohttp_requests: list[str], seeded: TestClient
) -> None:
    await seeded.get("/products/1")
    reader, writer = await connect(seeded)
    paths = ["/products/1", "/products/2", "/products/999999", "/products/3"]
    writer.write(b"".join(get(path, request_id=f"r{n}") for n, path in enumerate(paths)))
    for n, expected in enumerate([200, 200, 404, 200]):
        status, fields, _ = await read_answer(reader)
        assert (status, fields["x-request-id"]) == (expected, f"r{n}")
    assert aiohttp_requests == []

    # One aiohttp must answer, between two the front path serves: still in order, and the
    # connection (aiohttp's from there) goes on serving. In one packet, the packet goes
    # to aiohttp whole (as a packet with a request it refuses must: see test_differential).
    writer.write(
        get("/products/4", request_id="a")
        + b"HEAD /products/5 HTTP/1.1\r\nHost: x\r\nX-Request-ID: b\r\n\r\n"
        + get("/products/6", request_id="c")
    )
    answers = [
        await read_answer(reader),
        await read_answer(reader, head_only=True),
        await read_answer(reader),
    ]
    assert [(s, f["x-request-id"], f["x-cache"]) for s, f, _ in answers] == [
        (200, "a", "MISS"),
        (200, "b", "MISS"),
        (200, "c", "MISS"),
    ]
    assert b'"id":4' in answers[0][2] and b'"id":6' in answers[2][2]
    assert aiohttp_requests == ["/products/4", "/products/5", "/products/6"]
    writer.close()


async def test_metrics_name_the_route_as_the_middleware_does(
    aiohttp_requests: list[str], seeded: TestClient
) -> None:
    for path in ("/products/1", "/products/1", "/products/999999"):
        await seeded.get(path)
    assert aiohttp_requests == []
    await seeded.get("/products/01")  # aiohttp's, the same route
    assert aiohttp_requests == ["/products/01"]
    text = await (await seeded.get("/metrics")).text()
    route = "/products/{id}"
    requests = "shopnet_http_requests_total"
    assert metric(text, requests, method="GET", route=route, status="200") == 3
    assert metric(text, requests, method="GET", route=route, status="404") == 1
    assert metric(text, "shopnet_http_request_duration_seconds_count", route=route) == 4
    assert metric(text, "shopnet_cache_requests_total", result="hit") == 2
    assert metric(text, "shopnet_cache_requests_total", result="miss") == 2


async def test_database_down_is_the_same_503(
    product_config: MakeConfig,
    aiohttp_client,
    own_postgres: PostgresServer,
    aiohttp_requests: list[str],
) -> None:
    cfg = product_config(database_url=own_postgres.dsn(), seed_products=3)
    client = await aiohttp_client(ServedAsDeployed(create_app(cfg)))
    await client.get("/products/1")
    own_postgres.stop()
    answers = []
    for reader, writer in (await connect(client), await aiohttps_connection(client)):
        writer.write(get("/products/2"))
        answers.append(await raw_answer(reader))
        writer.write(get("/products/1"))
        assert b"X-Cache: HIT" in await raw_answer(reader)  # what the cache holds is served
        writer.close()
    assert answers[0].startswith(b"HTTP/1.1 503 ") and b"Retry-After: 2" in answers[0]
    assert answers[0] == answers[1]
    assert aiohttp_requests == ["/health", "/products/2", "/products/1"]


async def test_with_the_access_log_on_aiohttp_serves_and_logs_every_request(
    product_config: MakeConfig, aiohttp_client, aiohttp_requests: list[str], caplog
) -> None:
    caplog.set_level(logging.INFO, logger="shopnet.access")
    quiet = await aiohttp_client(ServedAsDeployed(create_app(product_config(seed_products=1))))
    assert FRONT_PROTOCOL in quiet.app
    assert (await quiet.get("/products/1")).status == 200
    assert aiohttp_requests == [] and not [r for r in caplog.records if r.name == "shopnet.access"]

    cfg = product_config(seed_products=1, access_log=True)
    logged = await aiohttp_client(ServedAsDeployed(create_app(cfg)))
    assert FRONT_PROTOCOL not in logged.app
    resp = await logged.get("/products/1", headers={"X-Request-ID": "logged-1"})
    assert resp.status == 200
    assert aiohttp_requests == ["/products/1"]
    lines = [r for r in caplog.records if r.name == "shopnet.access"]
    assert [(r.path, r.status, r.request_id) for r in lines] == [("/products/1", 200, "logged-1")]


async def test_an_unexpected_error_is_the_same_500(
    aiohttp_requests: list[str], seeded: TestClient, database_url: str, caplog
) -> None:
    """A database error that is not an outage (here: the table is gone) is the request
    middleware's JSON 500 and one logged traceback, on either side."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("ALTER TABLE products.products RENAME TO gone")
    finally:
        await conn.close()
    caplog.set_level(logging.ERROR, logger="shopnet.http")
    answers = []
    for reader, writer in (await connect(seeded), await aiohttps_connection(seeded)):
        writer.write(get("/products/3"))
        answers.append(await raw_answer(reader))
        writer.close()
    assert answers[0].startswith(b"HTTP/1.1 500 ") and b'"internal"' in answers[0]
    assert answers[0] == answers[1]
    assert aiohttp_requests == ["/health", "/products/3"]
    logged = [r for r in caplog.records if r.name == "shopnet.http"]
    assert len(logged) == 2 and all(r.exc_info for r in logged)
