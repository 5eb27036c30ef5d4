"""Discovery through the registry: instances come and go without a gateway restart; /ready."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from shopnet.gateway.app import create_app
from tests.gateway.conftest import Stack, admin
from tests.support.servers import free_port
from tests.support.waiting import until


async def served_by(gateway: TestClient, n: int) -> set[str]:
    return {(await gateway.get("/api/products/1")).headers.get("X-Served-By", "") for _ in range(n)}


async def test_instances_appear_and_disappear_without_restart(stack: Stack) -> None:
    gateway = await stack.gateway()
    assert (await gateway.get("/api/products/1")).status == 503

    first = await stack.upstream("product-1")

    async def answered() -> bool:
        return (await gateway.get("/api/products/1")).status == 200

    await until(answered, timeout=3)
    second = await stack.upstream("product-2")

    async def both() -> bool:
        return await served_by(gateway, 4) == {"product-1", "product-2"}

    await until(both, timeout=3)

    await stack.deregister("product-1")

    async def only_second() -> bool:
        return await served_by(gateway, 4) == {"product-2"}

    await until(only_second, timeout=3)
    hits = first.hits
    assert await served_by(gateway, 6) == {"product-2"}
    assert first.hits == hits  # no traffic to a deregistered instance
    assert second.hits > 0

    await stack.deregister("product-2")

    async def none_left() -> bool:
        return (await gateway.get("/api/products/1")).status == 503

    await until(none_left, timeout=3)


async def test_ready_once_synced_degraded_without_instances(stack: Stack) -> None:
    gateway = await stack.gateway(expect={"product": 0, "order": 0})
    resp = await admin(gateway).get("/ready")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "degraded"
    assert body["checks"]["upstream:product"]["status"] == "degraded"

    await stack.upstream("product-1")
    await stack.upstream("order-1", service="order")

    async def ready() -> bool:
        resp = await admin(gateway).get("/ready")
        return resp.status == 200 and (await resp.json())["status"] == "ready"

    await until(ready, timeout=3)


async def test_not_ready_while_the_registry_was_never_reached(stack: Stack) -> None:
    cfg = stack.config(registry_url=f"http://127.0.0.1:{free_port()}", startup_sync_seconds=0.2)
    gateway = await stack.serve(create_app(cfg))
    resp = await admin(gateway).get("/ready")
    assert resp.status == 503
    body = await resp.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["upstream:product"]["status"] == "down"
    # Liveness is not readiness: the process itself is fine.
    assert (await gateway.get("/health")).status == 200


async def test_registry_outage_keeps_the_last_known_instances(stack: Stack) -> None:
    await stack.upstream("product-1")
    gateway = await stack.gateway(expect={"product": 1}, watch_wait_seconds=0.3)
    await stack.registry.close()  # waits for the watch's current long-poll to end
    # Stale instances beat none: with the registry gone, traffic still flows.
    for _ in range(3):
        resp = await gateway.get("/api/products/1")
        assert resp.status == 200
        assert resp.headers["X-Served-By"] == "product-1"
    assert (await (await admin(gateway).get("/ready")).json())["checks"]["upstream:product"] == {
        "status": "ok",
        "detail": "1 instance(s)",
    }


async def test_first_request_after_start_finds_instances(stack: Stack) -> None:
    await stack.upstream("product-1")
    # No waiting for the pool: the app listens only once discovery has answered.
    gateway = await stack.start_client(create_app(stack.config()))
    resp = await gateway.get("/api/products/1")
    assert resp.status == 200
