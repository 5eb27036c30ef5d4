"""Routing, path mapping, balancing and headers through a real gateway to real upstreams."""

from __future__ import annotations

import asyncio
import io
import re

import orjson
import pytest
from yarl import URL

from tests.gateway.conftest import Stack


async def test_routes_map_paths_and_pass_query_strings(stack: Stack) -> None:
    product = await stack.upstream("product-1")
    order = await stack.upstream("order-1", service="order")
    gateway = await stack.gateway(expect={"product": 1, "order": 1})

    # Sent as raw bytes: the target must reach the upstream exactly as the caller wrote it.
    target = "/api/products/a%2Fb?page=2&q=caf%C3%A9+au%20lait&x=a%2Fb&y"
    base = str(gateway.make_url("/")).rstrip("/")
    resp = await gateway.session.get(URL(base + target, encoded=True))
    assert resp.status == 200
    assert (await resp.json())["instance"] == "product-1"
    assert product.seen[-1]["raw_path"] == "/products/a%2Fb?page=2&q=caf%C3%A9+au%20lait&x=a%2Fb&y"

    resp = await gateway.get("/api/products")
    assert resp.status == 200
    assert product.seen[-1]["raw_path"] == "/products"

    resp = await gateway.post("/api/orders", json={"customer_id": "c-42"})
    assert resp.status == 200
    assert resp.headers["X-Served-By"] == "order-1"
    assert order.seen[-1]["method"] == "POST"
    assert order.seen[-1]["path"] == "/orders"
    assert orjson.loads(order.seen[-1]["body"]) == {"customer_id": "c-42"}


async def raw_get(port: int, target: str) -> tuple[int, bytes]:
    """Send a request target byte for byte (HTTP clients would normalise it)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode())
        status = int((await reader.readline()).split()[1])
        rest = await reader.read()
        return status, rest.split(b"\r\n\r\n", 1)[1]
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.mark.parametrize(
    "target",
    [
        "/api/products/../metrics",
        "/api/products/%2e%2e/metrics",
        "/api/products/./1",
        "/api/orders/1/..",
    ],
)
async def test_dot_segments_are_refused(stack: Stack, target: str) -> None:
    product = await stack.upstream("product-1")
    order = await stack.upstream("order-1", service="order")
    gateway = await stack.gateway(expect={"product": 1, "order": 1})
    assert gateway.port is not None
    status, body = await raw_get(gateway.port, target)
    assert status == 400
    assert orjson.loads(body)["error"]["code"] == "bad_request"
    assert product.hits == order.hits == 0


async def test_percent_encoded_prefix_maps_correctly(stack: Stack) -> None:
    product = await stack.upstream("product-1")
    gateway = await stack.gateway(expect={"product": 1})
    assert gateway.port is not None
    status, _ = await raw_get(gateway.port, "/api/%70roducts/12?x=%2F")
    assert status == 200
    assert product.seen[-1]["raw_path"] == "/products/12?x=%2F"


@pytest.mark.parametrize(
    "path", ["/api/nothing", "/api/productsx", "/api/", "/api/order/1", "/products/1"]
)
async def test_unknown_paths_are_404_json(stack: Stack, path: str) -> None:
    product = await stack.upstream("product-1")
    gateway = await stack.gateway(expect={"product": 1})
    resp = await gateway.get(path)
    assert resp.status == 404
    error = (await resp.json())["error"]
    assert error["code"] == "not_found"
    assert error["request_id"] == resp.headers["X-Request-ID"]
    assert product.hits == 0


async def test_round_robin_over_three_instances(stack: Stack) -> None:
    for name in ("product-a", "product-b", "product-c"):
        await stack.upstream(name)
    gateway = await stack.gateway(expect={"product": 3})
    served = []
    for _ in range(9):
        resp = await gateway.get("/api/products/1")
        assert resp.status == 200
        served.append(resp.headers["X-Served-By"])
    # A fixed rotation through all three, whatever instance it starts with.
    assert sorted(served[:3]) == ["product-a", "product-b", "product-c"]
    assert served == served[:3] * 3


async def test_upstream_statuses_and_bodies_pass_through(stack: Stack) -> None:
    await stack.upstream("product-1", status=404, response_headers={"X-Cache": "MISS"})
    gateway = await stack.gateway(expect={"product": 1})
    resp = await gateway.get("/api/products/999")
    assert resp.status == 404
    assert resp.headers["X-Cache"] == "MISS"
    assert resp.headers["Content-Type"] == "application/json"
    assert (await resp.json())["instance"] == "product-1"


async def test_large_bodies_pass_both_ways(stack: Stack) -> None:
    product = await stack.upstream("product-1")
    gateway = await stack.gateway(expect={"product": 1}, max_body_bytes=4 << 20)
    body = bytes(range(256)) * 8192  # 2 MiB, every byte value
    resp = await gateway.put("/api/products/1", data=io.BytesIO(body))
    assert resp.status == 200
    assert product.seen[-1]["body"] == body


async def test_head_keeps_the_upstream_content_length(stack: Stack) -> None:
    await stack.upstream("product-1")
    gateway = await stack.gateway(expect={"product": 1})
    get = await gateway.get("/api/products/1")
    head = await gateway.head("/api/products/1")
    assert head.status == 200
    assert head.headers["Content-Length"] == str(len(await get.read()) + 1)  # "HEAD" vs "GET"
    assert await head.read() == b""


async def test_request_id_is_generated_and_forwarded(stack: Stack) -> None:
    product = await stack.upstream("product-1")
    gateway = await stack.gateway(expect={"product": 1})
    resp = await gateway.get("/api/products/1")
    request_id = resp.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{16}", request_id)
    assert product.seen[-1]["headers"]["X-Request-ID"] == request_id


async def test_sane_request_id_is_kept_and_forwarded(stack: Stack) -> None:
    product = await stack.upstream("product-1")
    gateway = await stack.gateway(expect={"product": 1})
    resp = await gateway.get("/api/products/1", headers={"X-Request-ID": "trace-42.a:b"})
    assert resp.headers["X-Request-ID"] == "trace-42.a:b"
    assert product.seen[-1]["headers"]["X-Request-ID"] == "trace-42.a:b"


@pytest.mark.parametrize("given", ["x" * 129, "tab\there", "caf\u00e9"])
async def test_insane_request_id_is_replaced(stack: Stack, given: str) -> None:
    product = await stack.upstream("product-1")
    gateway = await stack.gateway(expect={"product": 1})
    resp = await gateway.get(
        "/api/products/1", headers={"X-Request-ID": given.encode().decode("latin-1")}
    )
    request_id = resp.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{16}", request_id)
    assert product.seen[-1]["headers"]["X-Request-ID"] == request_id


async def test_error_responses_carry_the_request_id_too(stack: Stack) -> None:
    gateway = await stack.gateway()
    resp = await gateway.get("/api/products/1", headers={"X-Request-ID": "abc"})
    assert resp.status == 503
    assert resp.headers["X-Request-ID"] == "abc"
    assert (await resp.json())["error"]["request_id"] == "abc"


async def test_upstream_request_id_does_not_override_ours(stack: Stack) -> None:
    await stack.upstream("product-1", response_headers={"X-Request-ID": "from-upstream"})
    gateway = await stack.gateway(expect={"product": 1})
    resp = await gateway.get("/api/products/1", headers={"X-Request-ID": "mine"})
    assert resp.headers.getall("X-Request-ID") == ["mine"]


async def test_hop_by_hop_request_headers_are_stripped(stack: Stack) -> None:
    product = await stack.upstream("product-1")
    gateway = await stack.gateway(expect={"product": 1})
    resp = await gateway.get(
        "/api/products/1",
        headers={
            "Connection": "keep-alive, X-Hop-Secret",
            "X-Hop-Secret": "do not forward",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Proxy-Authorization": "Basic Zm9vOmJhcg==",
            "Proxy-Connection": "keep-alive",
            "Upgrade": "websocket",
            "Trailer": "X-Checksum",
            "X-Forwarded-For": "203.0.113.9",
            "X-Shopnet-Customer": "forged",
        },
    )
    assert resp.status == 200
    seen = {k.lower(): v for k, v in product.seen[-1]["headers"].items()}
    for name in (
        "x-hop-secret",
        "keep-alive",
        "te",
        "proxy-authorization",
        "proxy-connection",
        "upgrade",
        "trailer",
    ):
        assert name not in seen, name
    assert seen.get("connection", "keep-alive") == "keep-alive"  # the client session's own
    # The token stays at the edge; the gateway says who it proved (tests/gateway/test_access.py).
    assert "authorization" not in seen
    assert seen["x-shopnet-role"] == "admin" and "x-shopnet-customer" not in seen
    # A client's own X-Forwarded-For is replaced, not extended: the peer is no trusted proxy.
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert product.server is not None
    assert seen["host"] == f"127.0.0.1:{product.server.port}"


async def test_hop_by_hop_response_headers_are_stripped(stack: Stack) -> None:
    await stack.upstream(
        "product-1",
        response_headers={
            "Connection": "X-Upstream-Hop",
            "X-Upstream-Hop": "internal",
            "Keep-Alive": "timeout=99",
            "Proxy-Authenticate": "Basic",
            "Trailer": "X-Checksum",
            "X-Cache": "HIT",
        },
    )
    gateway = await stack.gateway(expect={"product": 1})
    resp = await gateway.get("/api/products/1")
    assert resp.status == 200
    for name in ("X-Upstream-Hop", "Keep-Alive", "Proxy-Authenticate", "Trailer"):
        assert name not in resp.headers, name
    assert resp.headers.get("Connection", "keep-alive").lower() == "keep-alive"
    assert resp.headers["X-Cache"] == "HIT"
    assert resp.headers["X-Served-By"] == "product-1"


async def test_body_over_the_limit_is_413_json(stack: Stack) -> None:
    product = await stack.upstream("product-1")
    gateway = await stack.gateway(expect={"product": 1}, max_body_bytes=1000)
    resp = await gateway.post("/api/products", data=b"x" * 1001)
    assert resp.status == 413
    error = (await resp.json())["error"]
    assert error["code"] == "payload_too_large"
    assert product.hits == 0
    assert (await gateway.post("/api/products", data=b"x" * 1000)).status == 200


async def test_chunked_body_over_the_limit_is_413_json(stack: Stack) -> None:
    product = await stack.upstream("product-1")
    gateway = await stack.gateway(expect={"product": 1}, max_body_bytes=1000)

    async def chunks():  # no Content-Length: the limit must hold while reading
        for _ in range(10):
            yield b"y" * 500

    resp = await gateway.post("/api/products", data=chunks())
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "payload_too_large"
    assert product.hits == 0


async def test_location_of_a_created_resource_is_rewritten_to_the_public_path(stack: Stack) -> None:
    order = await stack.upstream("order-1", service="order", status=201)
    order.response_headers = {"Location": "/orders/42"}
    gateway = await stack.gateway(expect={"order": 1})
    resp = await gateway.post("/api/orders", json={"customer_id": "c-1"})
    assert resp.status == 201
    assert resp.headers["Location"] == "/api/orders/42"
    # Outside the upstream prefix, or absolute: left alone (nginx's default proxy_redirect).
    for location in ("/elsewhere/1", "http://example.invalid/orders/1", "/ordersX/1"):
        order.response_headers = {"Location": location}
        resp = await gateway.post("/api/orders", json={"customer_id": "c-1"})
        assert resp.headers["Location"] == location
