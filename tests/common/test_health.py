"""/health and /ready: the overall status from every readiness check, bounded in time."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from aiohttp import web

from shopnet.common import health
from shopnet.common.app import create_base_app
from shopnet.common.config import ServiceConfig
from shopnet.common.health import CheckResult, CheckStatus


class Cfg(ServiceConfig):
    service: ClassVar[str] = "demo"
    default_port: ClassVar[int] = 1


def check(status: CheckStatus, detail: str = "") -> Any:
    async def run(app: web.Application) -> CheckResult:
        return CheckResult(status, detail)

    return run


async def broken(app: web.Application) -> CheckResult:
    raise RuntimeError("no socket")


async def hangs(app: web.Application) -> CheckResult:
    await asyncio.sleep(60)
    raise AssertionError("unreachable")


async def ready_of(aiohttp_client: Any, checks: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    client = await aiohttp_client(create_base_app(Cfg.from_env({}), readiness=checks))
    resp = await client.get("/ready")
    return resp.status, await resp.json()


async def test_health_answers_without_checks(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_base_app(Cfg.from_env({}), readiness={"x": broken}))
    resp = await client.get("/health")
    assert resp.status == 200 and await resp.json() == {"status": "ok"}


async def test_all_ok_is_ready(aiohttp_client: Any) -> None:
    status, body = await ready_of(aiohttp_client, {"db": check(CheckStatus.OK)})
    assert status == 200
    assert body == {"status": "ready", "checks": {"db": {"status": "ok"}}}


async def test_an_optional_dependency_down_is_degraded(aiohttp_client: Any) -> None:
    checks = {"db": check(CheckStatus.OK), "cache": check(CheckStatus.DEGRADED, "redis gone")}
    status, body = await ready_of(aiohttp_client, checks)
    assert status == 200 and body["status"] == "degraded"
    assert body["checks"]["cache"] == {"status": "degraded", "detail": "redis gone"}


async def test_a_failing_check_is_down_and_unavailable(aiohttp_client: Any) -> None:
    client = await aiohttp_client(
        create_base_app(Cfg.from_env({}), readiness={"db": broken, "ok": check(CheckStatus.OK)})
    )
    resp = await client.get("/ready")
    assert resp.status == 503 and resp.headers["Retry-After"] == "1"
    body = await resp.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["db"] == {"status": "down", "detail": "RuntimeError: no socket"}


async def test_a_hanging_check_times_out(aiohttp_client: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(health, "CHECK_TIMEOUT", 0.2)
    status, body = await ready_of(aiohttp_client, {"slow": hangs})
    assert status == 503
    assert body["checks"]["slow"]["detail"] == "check timed out after 0.2s"


async def test_metrics_count_answers_by_status(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_base_app(Cfg.from_env({})))
    await client.get("/health")
    await client.get("/nowhere")
    text = await (await client.get("/metrics")).text()
    assert 'status="200"' in text and 'status="404"' in text
