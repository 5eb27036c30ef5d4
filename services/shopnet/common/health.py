"""Liveness and readiness.

`GET /health` answers while the process runs (liveness: restart me if this fails).
`GET /ready` runs every readiness check of the service (readiness: send me traffic):

    200 {"status": "ready",    "checks": {...}}   every check ok
    200 {"status": "degraded", "checks": {...}}   some optional dependency down
                                                   (e.g. Redis: answers come from PostgreSQL)
    503 {"status": "unavailable", ...}             a required dependency is down
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from shopnet.common.http import json_response


class CheckStatus(enum.StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class CheckResult:
    status: CheckStatus
    detail: str = ""


ReadinessCheck = Callable[[web.Application], Awaitable[CheckResult]]

READINESS_CHECKS = web.AppKey("readiness_checks", dict[str, ReadinessCheck])

CHECK_TIMEOUT = 2.0


async def health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def _run_check(app: web.Application, check: ReadinessCheck) -> CheckResult:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            return await check(app)
    except TimeoutError:
        return CheckResult(CheckStatus.DOWN, f"check timed out after {CHECK_TIMEOUT}s")
    except Exception as exc:
        return CheckResult(CheckStatus.DOWN, f"{type(exc).__name__}: {exc}")


async def evaluate(app: web.Application) -> tuple[str, dict[str, dict[str, str]]]:
    checks = app[READINESS_CHECKS]
    results = await asyncio.gather(*(_run_check(app, c) for c in checks.values()))
    by_name = {
        name: {"status": r.status.value, **({"detail": r.detail} if r.detail else {})}
        for name, r in zip(checks, results, strict=True)
    }
    statuses = {r.status for r in results}
    if CheckStatus.DOWN in statuses:
        return "unavailable", by_name
    if CheckStatus.DEGRADED in statuses:
        return "degraded", by_name
    return "ready", by_name


async def ready(request: web.Request) -> web.Response:
    return await ready_response(request.app)


async def ready_response(app: web.Application) -> web.Response:
    """/ready of `app` (an admin listener answers it for the app it belongs to)."""
    overall, checks = await evaluate(app)
    if overall == "unavailable":
        return json_response(
            {"status": overall, "checks": checks}, status=503, headers={"Retry-After": "1"}
        )
    return json_response({"status": overall, "checks": checks})
