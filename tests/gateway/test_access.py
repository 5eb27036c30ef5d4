"""Who may call which route, and how often (shopnet.gateway.access, shopnet.gateway.ratelimit)."""

from __future__ import annotations

import time

import aiohttp
import jwt
import pytest

from shopnet.common import identity
from shopnet.gateway.ratelimit import RateLimiter, TooManyRequests
from tests.gateway.conftest import Stack
from tests.support import tokens

ALICE = tokens.bearer("alice")


async def call(gateway, method: str, path: str, headers: dict[str, str] | None = None):
    """A request without the test client's default admin token: (status, fields, JSON body)."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, gateway.make_url(path), headers=headers) as resp,
    ):
        return resp.status, resp.headers, await resp.json(content_type=None)


async def test_catalog_reads_are_public_and_writes_need_an_admin(stack: Stack) -> None:
    product = await stack.upstream("product-1")
    gateway = await stack.gateway(expect={"product": 1})
    status, _, _ = await call(gateway, "GET", "/api/products/1")
    assert status == 200
    assert "x-shopnet-role" not in {k.lower() for k in product.seen[-1]["headers"]}

    for method in ("POST", "PATCH", "PUT", "DELETE"):
        status, fields, body = await call(gateway, method, "/api/products/1")
        assert (status, body["error"]["code"]) == (401, "unauthorized"), method
        assert fields["WWW-Authenticate"].startswith("Bearer")
        status, _, body = await call(gateway, method, "/api/products/1", ALICE)
        assert (status, body["error"]["code"]) == (403, "forbidden"), method
    assert product.hits == 1  # none of those reached it

    status, _, _ = await call(gateway, "PATCH", "/api/products/1", tokens.ADMIN)
    assert status == 200
    seen = {k.lower(): v for k, v in product.seen[-1]["headers"].items()}
    assert seen["x-shopnet-role"] == "admin" and "authorization" not in seen


async def test_orders_need_a_caller_whom_the_gateway_names(stack: Stack) -> None:
    orders = await stack.upstream("order-1", service="order")
    gateway = await stack.gateway(expect={"order": 1})
    status, _, _ = await call(gateway, "GET", "/api/orders?customer_id=alice")
    assert status == 401
    forged = {**ALICE, "X-Shopnet-Customer": "bob", "X-Shopnet-Role": "admin"}
    status, _, _ = await call(gateway, "GET", "/api/orders?customer_id=alice", forged)
    assert status == 200
    seen = {k.lower(): v for k, v in orders.seen[-1]["headers"].items()}
    assert (seen["x-shopnet-role"], seen["x-shopnet-customer"]) == ("customer", "alice")
    assert orders.hits == 1


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        identity.issue(b"another stack's key, 32 bytes or more"),
        identity.issue(tokens.KEY, now=time.time() - 2 * identity.DEFAULT_TTL_SECONDS),
        jwt.encode({"sub": "admin", "role": "admin"}, tokens.KEY, algorithm="HS256"),
        jwt.encode(
            {
                "sub": "admin",
                "role": "admin",
                "iss": "shopnet",
                "aud": "shopnet-api",
                "iat": int(time.time()),
                "exp": int(time.time()) + 60,
            },
            None,
            algorithm="none",
        ),
    ],
    ids=["garbage", "other-key", "expired", "no-claims", "alg-none"],
)
async def test_a_bad_token_is_401_even_for_a_read(stack: Stack, token: str) -> None:
    product = await stack.upstream("product-1")
    gateway = await stack.gateway(expect={"product": 1})
    status, _, body = await call(
        gateway, "GET", "/api/products/1", {"Authorization": f"Bearer {token}"}
    )
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    assert product.hits == 0


async def test_rate_limits_per_address_and_per_customer_but_not_admins(stack: Stack) -> None:
    await stack.upstream("product-1")
    gateway = await stack.gateway(expect={"product": 1}, rate_per_second=0.5, rate_burst=2)
    statuses = [(await call(gateway, "GET", "/api/products/1"))[0] for _ in range(3)]
    assert statuses == [200, 200, 429]
    status, fields, body = await call(gateway, "GET", "/api/products/1")
    assert (status, body["error"]["code"]) == (429, "rate_limited")
    assert fields["Content-Type"].startswith("application/json")
    assert 1 <= int(fields["Retry-After"]) <= 2
    # A customer has a bucket of its own, whatever address it comes from; an admin none.
    assert [(await call(gateway, "GET", "/api/products/1", ALICE))[0] for _ in range(3)] == [
        200,
        200,
        429,
    ]
    assert {
        (await call(gateway, "GET", "/api/products/1", tokens.ADMIN))[0] for _ in range(20)
    } == {200}


def test_a_bucket_refills_at_its_rate_and_forgets_the_oldest_keys() -> None:
    now = [0.0]
    limiter = RateLimiter(2.0, 2, max_keys=2, clock=lambda: now[0])
    limiter.take("a")
    limiter.take("a")
    with pytest.raises(TooManyRequests) as refused:
        limiter.take("a")
    assert refused.value.headers["Retry-After"] == "1"
    now[0] = 0.5  # one token back
    limiter.take("a")
    limiter.take("b")
    limiter.take("c")  # "a" is forgotten: a full bucket again
    limiter.take("a")
    limiter.take("a")
    assert len(limiter._buckets) == 2
