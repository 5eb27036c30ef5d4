"""Retries, timeouts, outlier ejection and the gateway's own 502/503/504 answers.

Instances are named so the registry (which sorts by id) lists the misbehaving one
first: the gateway's first pick is the first listed instance, so each test knows
where a request lands first.
"""

from __future__ import annotations

import time

import pytest

from shopnet.gateway.keys import DISCOVERY
from tests.gateway.conftest import Stack, Upstream, errors, metric
from tests.support.servers import free_port
from tests.support.waiting import until


async def dead_instance(stack: Stack, instance_id: str) -> int:
    """Register an instance whose port has nothing listening (connection refused)."""
    port = free_port()
    await stack.register(instance_id, port=port)
    return port


def error_code(body: dict) -> str:
    return body["error"]["code"]


# -- connect failures: nothing was sent, so every method is retried -----------------


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
async def test_connect_failure_is_retried_for_every_method(stack: Stack, method: str) -> None:
    await dead_instance(stack, "product-a-dead")
    good = await stack.upstream("product-b-good")
    gateway = await stack.gateway(expect={"product": 2})
    resp = await gateway.request(method, "/api/products/1", json={"n": 1})
    assert resp.status == 200
    assert resp.headers["X-Served-By"] == "product-b-good"
    assert good.hits == 1
    assert await errors(gateway, "connect") == 1
    assert await metric(gateway, "shopnet_gateway_retries_total", service="product") == 1


async def test_all_instances_refusing_is_502_json(stack: Stack) -> None:
    await dead_instance(stack, "product-a")
    await dead_instance(stack, "product-b")
    gateway = await stack.gateway(expect={"product": 2})
    resp = await gateway.get("/api/products/1")
    assert resp.status == 502
    body = await resp.json()
    assert error_code(body) == "bad_gateway"
    assert body["error"]["request_id"] == resp.headers["X-Request-ID"]
    assert await errors(gateway, "connect") == 2


# -- 5xx answers ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_get_is_retried_on_gateway_statuses(stack: Stack, status: int) -> None:
    bad = await stack.upstream("product-a-bad", status=status)
    good = await stack.upstream("product-b-good")
    gateway = await stack.gateway(expect={"product": 2})
    for _ in range(4):
        resp = await gateway.get("/api/products/1")
        assert resp.status == 200
        assert resp.headers["X-Served-By"] == "product-b-good"
    assert bad.hits == 2  # every other first pick; each retried on the good one
    assert good.hits == 4
    assert await errors(gateway, "status_5xx") == 2


async def test_500_is_an_answer_not_retried(stack: Stack) -> None:
    bad = await stack.upstream("product-a-bad", status=500)
    good = await stack.upstream("product-b-good")
    gateway = await stack.gateway(expect={"product": 2})
    resp = await gateway.get("/api/products/1")
    assert resp.status == 500
    assert resp.headers["X-Served-By"] == "product-a-bad"
    assert (bad.hits, good.hits) == (1, 0)
    assert await errors(gateway, "status_5xx") == 1  # counted, but no failure for ejection


async def test_post_answered_503_is_not_retried(stack: Stack) -> None:
    bad = await stack.upstream("product-a-bad", status=503)
    good = await stack.upstream("product-b-good")
    gateway = await stack.gateway(expect={"product": 2})
    resp = await gateway.post("/api/products", json={"sku": "x"})
    assert resp.status == 503
    assert resp.headers["X-Served-By"] == "product-a-bad"
    assert (bad.hits, good.hits) == (1, 0)


async def test_post_with_idempotency_key_is_retried(stack: Stack) -> None:
    """…to a service that honours the key (the stubs stand in for one here)."""
    bad = await stack.upstream("product-a-bad", status=503)
    good = await stack.upstream("product-b-good")
    gateway = await stack.gateway(expect={"product": 2}, idempotent_services="order,product")
    resp = await gateway.post(
        "/api/products", json={"sku": "x"}, headers={"Idempotency-Key": "k-1"}
    )
    assert resp.status == 200
    assert resp.headers["X-Served-By"] == "product-b-good"
    assert (bad.hits, good.hits) == (1, 1)
    assert good.seen[0]["headers"]["Idempotency-Key"] == "k-1"
    assert good.seen[0]["body"] == bad.seen[0]["body"] == b'{"sku": "x"}'


async def test_a_key_is_no_reason_to_retry_a_service_that_ignores_it(stack: Stack) -> None:
    """By default only the order service honours Idempotency-Key: a product write that was
    sent is never sent again, key or not (a retry after a slow success would 409/404)."""
    bad = await stack.upstream("product-a-bad", status=503)
    good = await stack.upstream("product-b-good")
    gateway = await stack.gateway(expect={"product": 2})
    for method in ("POST", "DELETE"):
        path = "/api/products" if method == "POST" else "/api/products/1"
        for _ in range(2):  # round robin: one of the two tries starts at the bad one
            await gateway.request(method, path, json={"sku": "x"}, headers={"Idempotency-Key": "k"})
    assert (bad.hits, good.hits) == (2, 2)


async def test_every_try_carries_its_time_budget(stack: Stack) -> None:
    good = await stack.upstream("product-a")
    gateway = await stack.gateway(expect={"product": 1}, try_timeout_seconds=1.5)
    resp = await gateway.get("/api/products/1", headers={"X-Request-Budget-Ms": "999999"})
    assert resp.status == 200
    budget = int(good.seen[0]["headers"]["X-Request-Budget-Ms"])
    assert 1000 < budget <= 1500  # what is left of this try; the caller's value is dropped


async def test_retries_are_bounded_and_the_last_answer_is_returned(stack: Stack) -> None:
    upstreams = [await stack.upstream(f"product-{n}", status=503) for n in "abcd"]
    gateway = await stack.gateway(expect={"product": 4}, retries=2)
    resp = await gateway.get("/api/products/1")
    assert resp.status == 503
    assert resp.headers["X-Served-By"] == "product-c"  # the third and last try
    assert [u.hits for u in upstreams] == [1, 1, 1, 0]  # each try on another instance
    assert await metric(gateway, "shopnet_gateway_retries_total", service="product") == 2


async def test_no_retry_when_retries_is_zero(stack: Stack) -> None:
    await dead_instance(stack, "product-a-dead")
    good = await stack.upstream("product-b-good")
    gateway = await stack.gateway(expect={"product": 2}, retries=0)
    resp = await gateway.get("/api/products/1")
    assert resp.status == 502
    assert good.hits == 0


# -- broken connections --------------------------------------------------------------


async def test_get_is_retried_after_a_dropped_connection(stack: Stack) -> None:
    dropping = await stack.upstream("product-a-drop", drop=True)
    good = await stack.upstream("product-b-good")
    gateway = await stack.gateway(expect={"product": 2})
    resp = await gateway.get("/api/products/1")
    assert resp.status == 200
    assert resp.headers["X-Served-By"] == "product-b-good"
    assert (dropping.hits, good.hits) == (1, 1)
    assert await errors(gateway, "disconnect") == 1


async def test_post_is_not_retried_after_a_dropped_connection(stack: Stack) -> None:
    dropping = await stack.upstream("product-a-drop", drop=True)
    good = await stack.upstream("product-b-good")
    gateway = await stack.gateway(expect={"product": 2})
    resp = await gateway.post("/api/products", json={"sku": "x"})
    assert resp.status == 502
    assert error_code(await resp.json()) == "bad_gateway"
    assert (dropping.hits, good.hits) == (1, 0)


# -- timeouts ------------------------------------------------------------------------


async def test_get_is_retried_after_a_try_timeout(stack: Stack) -> None:
    slow = await stack.upstream("product-a-slow", delay=2.0)
    good = await stack.upstream("product-b-good")
    gateway = await stack.gateway(expect={"product": 2}, try_timeout_seconds=0.3)
    started = time.monotonic()
    resp = await gateway.get("/api/products/1")
    elapsed = time.monotonic() - started
    assert resp.status == 200
    assert resp.headers["X-Served-By"] == "product-b-good"
    assert (slow.hits, good.hits) == (1, 1)
    assert 0.3 <= elapsed < 1.5
    assert await errors(gateway, "timeout") == 1


async def test_post_is_not_retried_after_a_timeout(stack: Stack) -> None:
    slow = await stack.upstream("product-a-slow", delay=2.0)
    good = await stack.upstream("product-b-good")
    gateway = await stack.gateway(expect={"product": 2}, try_timeout_seconds=0.3)
    resp = await gateway.post("/api/products", json={"sku": "x"})
    assert resp.status == 504
    assert error_code(await resp.json()) == "gateway_timeout"
    assert (slow.hits, good.hits) == (1, 0)


async def test_slow_single_instance_is_504_after_the_try_timeout(stack: Stack) -> None:
    await stack.upstream("product-a-slow", delay=3.0)
    gateway = await stack.gateway(expect={"product": 1}, try_timeout_seconds=0.3)
    started = time.monotonic()
    resp = await gateway.get("/api/products/1")
    elapsed = time.monotonic() - started
    assert resp.status == 504
    body = await resp.json()
    assert error_code(body) == "gateway_timeout"
    assert body["error"]["request_id"] == resp.headers["X-Request-ID"]
    assert 0.3 <= elapsed < 1.5


async def test_total_timeout_bounds_all_tries(stack: Stack) -> None:
    slow = [await stack.upstream(f"product-{n}", delay=3.0) for n in "abc"]
    gateway = await stack.gateway(
        expect={"product": 3}, try_timeout_seconds=0.4, total_timeout_seconds=0.6, retries=2
    )
    started = time.monotonic()
    resp = await gateway.get("/api/products/1")
    elapsed = time.monotonic() - started
    assert resp.status == 504
    assert "0.6s" in (await resp.json())["error"]["message"]
    assert 0.6 <= elapsed < 1.1  # not 3 × 0.4 s
    assert [u.hits for u in slow] == [1, 1, 0]  # the second try got what was left


# -- no instances --------------------------------------------------------------------


async def test_no_instance_is_503_with_retry_after(stack: Stack) -> None:
    gateway = await stack.gateway()
    resp = await gateway.get("/api/products/1")
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "1"
    body = await resp.json()
    assert error_code(body) == "unavailable"
    assert "product" in body["error"]["message"]


# -- passive ejection ----------------------------------------------------------------


async def test_failing_instance_is_ejected_then_returns(stack: Stack) -> None:
    port = await dead_instance(stack, "product-a-dead")
    good = await stack.upstream("product-b-good")
    gateway = await stack.gateway(expect={"product": 2}, eject_after=2, base_ejection_seconds=0.5)
    pool = gateway.app[DISCOVERY].pools["product"]
    # First picks alternate; every try on the dead one fails over to the good one.
    for _ in range(4):
        assert (await gateway.get("/api/products/1")).status == 200
    assert await errors(gateway, "connect") == 2
    assert await metric(gateway, "shopnet_gateway_ejections_total", service="product") == 1
    assert [e.id for e in pool.available()] == ["product-b-good"]
    assert await metric(gateway, "shopnet_gateway_healthy_instances", service="product") == 1
    # While ejected it gets no traffic at all: no more connect errors, no retries.
    for _ in range(6):
        resp = await gateway.get("/api/products/1")
        assert resp.headers["X-Served-By"] == "product-b-good"
    assert await errors(gateway, "connect") == 2
    assert good.hits == 10
    # Its port comes alive; after the ejection time it takes traffic again.
    revived = Upstream("product-a-dead")
    revived.server = await stack.start_server(revived.app(), port=port)
    await until(lambda: len(pool.available()) == 2, timeout=3)
    served = {(await gateway.get("/api/products/1")).headers["X-Served-By"] for _ in range(4)}
    assert served == {"product-a-dead", "product-b-good"}
    assert revived.hits == 2
    assert await metric(gateway, "shopnet_gateway_healthy_instances", service="product") == 2


async def test_the_last_instance_is_never_ejected(stack: Stack) -> None:
    await stack.upstream("product-a", status=503)
    gateway = await stack.gateway(expect={"product": 1}, eject_after=1)
    for _ in range(5):
        assert (await gateway.get("/api/products/1")).status == 503
    assert await metric(gateway, "shopnet_gateway_ejections_total", service="product") == 0
    assert len(gateway.app[DISCOVERY].pools["product"].available()) == 1


async def test_500_answers_never_eject(stack: Stack) -> None:
    """A 500 answers the request (a malformed one can cause it): clients must not be able
    to eject healthy instances with requests of their own making."""
    bad = await stack.upstream("product-a-bad", status=500)
    await stack.upstream("product-b-good")
    gateway = await stack.gateway(expect={"product": 2}, eject_after=2)
    statuses = [(await gateway.get("/api/products/1")).status for _ in range(8)]
    assert statuses == [500, 200] * 4
    assert await metric(gateway, "shopnet_gateway_ejections_total", service="product") == 0
    assert bad.hits == 4


async def test_503_answers_eject_too(stack: Stack) -> None:
    bad = await stack.upstream("product-a-bad", status=503)
    await stack.upstream("product-b-good")
    gateway = await stack.gateway(expect={"product": 2}, eject_after=2)
    statuses = [(await gateway.post("/api/products", json={})).status for _ in range(4)]
    assert statuses == [503, 200, 503, 200]
    assert await metric(gateway, "shopnet_gateway_ejections_total", service="product") == 1
    statuses = [(await gateway.post("/api/products", json={})).status for _ in range(4)]
    assert statuses == [200] * 4
    assert bad.hits == 2
