"""The topology's expectations, checked on a running stack (`shopnet validate`).

Each expectation is judged by behaviour, through the entry a user takes (the
published port): every instance ready, the main path (a product read), a repeated
read served from the cache, a large answer (a catalog page), an order, the isolation
matrix, and — with a bound — the main path's p99. Requests go only to our own
stack's gateway, bounded in count and time.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from shopnet.product import seed
from shopnet.runtime import tokens
from shopnet.runtime.base import Driver
from shopnet.runtime.capabilities import IsolationProbe
from shopnet.runtime.confine import secret_store

TIMEOUT_S = 5.0
"""Per request: longer than the gateway's own budget, so its 504 is seen, not ours."""
P99_REQUESTS = 300
P99_CONNECTIONS = 4
P99_PRODUCTS = 50
CATALOG_PAGE = 100
"""Products in the large answer (tens of kB: many full-size segments)."""
ORDERABLE = [i for i in range(1, 1001) if seed.catalog_entry(i)[-1] >= 100]
"""Seed products with at least 100 units: validations can order them for a long time."""
SHOWN_PROBLEMS = 3
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True, slots=True)
class Outcome:
    """One expectation's verdict; `detail` is one line either way."""

    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.name}: {self.detail}"


@dataclass(frozen=True, slots=True)
class Gateway:
    """Where the checks send their requests, and as whom."""

    url: str
    headers: Mapping[str, str]
    """An admin's Authorization: orders need a caller, and admins are not rate-limited, so
    300 reads for a p99 measure latency rather than the gateway's limits."""


def gateway_of(driver: Driver) -> Gateway:
    """The running stack's gateway, spoken to as its admin (`shopnet token --admin`)."""
    return Gateway(driver.gateway_url, tokens.admin_headers(secret_store(driver.layout)))


def _call(
    gateway: Gateway, path: str, *, method: str = "GET", body: object = None
) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", **gateway.headers}
    request = urllib.request.Request(
        f"{gateway.url}{path}", data=data, method=method, headers=headers
    )
    try:
        with _OPENER.open(request, timeout=TIMEOUT_S) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    if isinstance(exc, TimeoutError | OSError) and "timed out" in str(exc):
        return f"no answer within {TIMEOUT_S:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc) or type(exc).__name__


def health(driver: Driver) -> Outcome:
    rows = driver.status(usage=False)
    sick = [f"{r.instance} is {r.health}" for r in rows if r.health != "ready"]
    if sick:
        return Outcome("health", False, ", ".join(sick) + " (see `shopnet status`)")
    return Outcome("health", True, f"{len(rows)} instances ready")


def _http(
    name: str, what: str, gateway: Gateway, path: str, want: int, body: object = None
) -> Outcome:
    started = time.monotonic()
    try:
        method = "GET" if body is None else "POST"
        status, _, raw = _call(gateway, path, method=method, body=body)
    except (OSError, urllib.error.URLError) as exc:
        return Outcome(name, False, f"{what}: {_reason(exc)}")
    took = (time.monotonic() - started) * 1000
    if status != want:
        return Outcome(name, False, f"{what}: HTTP {status} (want {want}) {_error_text(raw)}")
    return Outcome(name, True, f"{what}: HTTP {status} in {took:.0f} ms ({len(raw)} bytes)")


def _error_text(raw: bytes) -> str:
    try:
        body = json.loads(raw)
    except ValueError:
        return ""
    message = body.get("error", {}) if isinstance(body, dict) else {}
    text = message.get("message", "") if isinstance(message, dict) else str(message)
    return text[:160]


def main_path(gateway: Gateway) -> Outcome:
    return _http("main path", "GET /api/products/1", gateway, "/api/products/1", 200)


def catalog(gateway: Gateway) -> Outcome:
    path = f"/api/products?page_size={CATALOG_PAGE}"
    return _http("large answer", f"GET {path}", gateway, path, 200)


def order(gateway: Gateway) -> Outcome:
    """One unit of a random well-stocked seed product, so repeated validations sell none out."""
    product = random.choice(ORDERABLE)
    body = {"customer_id": "validate", "items": [{"product_id": product, "quantity": 1}]}
    what = f"POST /api/orders (product {product})"
    return _http("order", what, gateway, "/api/orders", 201, body=body)


def cache(gateway: Gateway) -> Outcome:
    """A product read twice: the second must be a cache HIT (X-Cache)."""
    seen = []
    for _ in range(2):
        try:
            status, headers, _ = _call(gateway, "/api/products/2")
        except (OSError, urllib.error.URLError) as exc:
            return Outcome("cache", False, f"GET /api/products/2: {_reason(exc)}")
        if status != 200:
            return Outcome("cache", False, f"GET /api/products/2: HTTP {status}")
        seen.append(headers.get("X-Cache", "none"))
    if seen[-1] != "HIT":
        return Outcome("cache", False, f"a repeated product read was X-Cache {seen[-1]}, not HIT")
    return Outcome("cache", True, "a repeated product read is a HIT")


def isolation(driver: Driver) -> Outcome:
    if not isinstance(driver, IsolationProbe):
        return Outcome("isolation", True, f"{driver.mode} mode has no isolation matrix to check")
    text, ok = driver.isolation()
    lines = text.splitlines()
    summary = next((line for line in lines if " probes: " in line), "")
    if ok:
        return Outcome("isolation", True, summary or "the matrix is the topology's")
    bad = [line.strip().removeprefix("UNEXPECTED ") for line in lines if "UNEXPECTED" in line]
    shown = "; ".join(bad[:SHOWN_PROBLEMS])
    more = f" (and {len(bad) - SHOWN_PROBLEMS} more)" if len(bad) > SHOWN_PROBLEMS else ""
    return Outcome("isolation", False, f"{shown}{more} (see `shopnet isolation`)")


async def _latencies(
    gateway: Gateway, requests: int, connections: int, stop_above_s: float = math.inf
) -> tuple[list[float], bool]:
    """Seconds per answered read, over `requests` main-path reads (failed ones left out),
    and whether all of them were sent.

    Stops early once more reads took longer than `stop_above_s` than a p99 over all of
    them could leave out (`_allowed_over`): the p99 is then above it whatever follows,
    and a stack slowed by a fault is not read 300 times over.
    """
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=connections)
    times: list[float] = []
    queue = list(range(requests))
    allowed, slow = _allowed_over(requests), 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal slow
        while queue and slow <= allowed:
            n = queue.pop()
            started = time.monotonic()
            try:
                path = f"/api/products/{n % P99_PRODUCTS + 1}"
                async with session.get(f"{gateway.url}{path}", headers=gateway.headers) as answer:
                    await answer.read()
                    ok = answer.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            if ok:
                times.append(took := time.monotonic() - started)
                slow += took > stop_above_s

    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(connections)))
    return times, not queue


def _allowed_over(samples: int) -> int:
    """How many of `samples` may lie above the p99 (the ceil(0.99·n)-th smallest)."""
    return samples - math.ceil(0.99 * samples)


def p99_ms(
    gateway: Gateway, *, requests: int = P99_REQUESTS, connections: int = P99_CONNECTIONS
) -> float:
    """The main path's p99 in ms over a short bounded run; inf when most reads failed."""
    return _p99(gateway, requests, connections, math.inf)[0]


def _p99(gateway: Gateway, requests: int, connections: int, bound_ms: float) -> tuple[float, bool]:
    """(p99 in ms, whether it is exact). A run that has shown the p99 to be above
    `bound_ms` stops there and gives the lowest read over the bound: a p99 at least that."""
    times, complete = asyncio.run(_latencies(gateway, requests, connections, bound_ms / 1000))
    if not complete:
        return min(t for t in times if t * 1000 > bound_ms) * 1000, False
    if len(times) < requests // 2:
        return math.inf, True
    times.sort()
    return times[min(len(times) - 1, math.ceil(0.99 * len(times)) - 1)] * 1000, True


def p99(gateway: Gateway, bound_ms: float, note: str = "") -> Outcome:
    measured, exact = _p99(gateway, P99_REQUESTS, P99_CONNECTIONS, bound_ms)
    what = f"main path p99 {'' if exact else 'at least '}{measured:.1f} ms"
    if measured > bound_ms:
        return Outcome("p99", False, f"{what} > bound {bound_ms:.1f} ms{note}")
    return Outcome("p99", True, f"{what} <= bound {bound_ms:.1f} ms{note}")


def validate(driver: Driver, *, p99_bound_ms: float | None = None, note: str = "") -> list[Outcome]:
    """Every expectation, in the order a user would look; the p99 one only with a bound."""
    outcomes = [health(driver)]  # first: without a stack, this says so (no token key yet)
    gateway = gateway_of(driver)
    outcomes += [
        main_path(gateway),
        cache(gateway),
        catalog(gateway),
        order(gateway),
        isolation(driver),
    ]
    if p99_bound_ms is not None:
        outcomes.append(p99(gateway, p99_bound_ms, note))
    return outcomes
