"""Our load generator: bounded concurrency, bounded count and time, through the gateway.

Why not wrk (which the bench uses): a chaos run needs to know *which* orders were
acknowledged — the id each 201 carried, per Idempotency-Key — to check afterwards that
every one of them exists and none exists twice, and per-request send/answer times for
the timeline. wrk's Lua can count, but not hand ids back. A small aiohttp client does
both, at rates far above what a fault changes (16 connections by default).

Orders: every order has its own Idempotency-Key; an attempt that fails is retried with
the same key (at most RETRIES times), as a careful client would, so a retry that
creates a second order shows up as a duplicate.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from shopnet.chaos.measure import Sample

REQUEST_TIMEOUT_S = 5.0
RETRIES = 3
PRODUCTS = 1000
ORDER_PRODUCTS = [i for i in range(1, PRODUCTS + 1) if i % 13]
"""Every 13th seed product is sold out: orders go to the others, one unit each."""


@dataclass(frozen=True, slots=True)
class LoadSpec:
    url: str
    """The gateway's base URL (`Driver.gateway_url()`): our own stack only."""
    seconds: float
    order_share: float
    """0: product reads only; 1: orders only."""
    customer: str
    """Every order of the run is this customer's, so they can be listed afterwards."""
    connections: int = 16
    max_requests: int = 200_000
    headers: dict[str, str] = field(default_factory=dict)
    """Sent with every request: an admin's Authorization (admins are not rate-limited)."""


@dataclass(slots=True)
class LoadResult:
    samples: list[Sample] = field(default_factory=list)
    acked: dict[str, str] = field(default_factory=dict)
    """Idempotency-Key → order id, for every order acknowledged (201, or 200 on a replay)."""
    product_of_key: dict[str, int] = field(default_factory=dict)
    """Every Idempotency-Key sent → the product it orders (one unit; retries send the same)."""
    statuses: dict[str, int] = field(default_factory=dict)
    """How often each answer came (`200`, `503`, `timeout`, `connect` …)."""


class Load:
    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.result = LoadResult()
        self._order_numbers = itertools.count(1)
        self._retry: list[str] = []
        self._attempts: dict[str, int] = {}
        self._started = 0.0

    async def run(self) -> LoadResult:
        """Run until `seconds` or `max_requests`, whichever comes first."""
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        connector = aiohttp.TCPConnector(limit=self.spec.connections)
        self._started = time.monotonic()
        async with aiohttp.ClientSession(
            timeout=timeout, connector=connector, headers=self.spec.headers
        ) as session:
            await asyncio.gather(*(self._worker(session, n) for n in range(self.spec.connections)))
        return self.result

    def now(self) -> float:
        return time.monotonic() - self._started

    async def _worker(self, session: aiohttp.ClientSession, n: int) -> None:
        rng = random.Random(n)
        while self.now() < self.spec.seconds and len(self.result.samples) < self.spec.max_requests:
            if self._retry or rng.random() < self.spec.order_share:
                await self._order(session, rng)
            else:
                await self._product(session, rng.randint(1, PRODUCTS))

    async def _product(self, session: aiohttp.ClientSession, product_id: int) -> None:
        await self._send(session, "GET", f"/api/products/{product_id}")

    async def _order(self, session: aiohttp.ClientSession, rng: random.Random) -> None:
        if self._retry:
            key = self._retry.pop(0)
        else:
            key = f"{self.spec.customer}-{next(self._order_numbers)}"
            self.result.product_of_key[key] = rng.choice(ORDER_PRODUCTS)
        self._attempts[key] = self._attempts.get(key, 0) + 1
        body = {
            "customer_id": self.spec.customer,
            "items": [{"product_id": self.result.product_of_key[key], "quantity": 1}],
        }
        answer = await self._send(
            session, "POST", "/api/orders", json=body, headers={"Idempotency-Key": key}
        )
        if isinstance(answer, dict) and "id" in answer:
            self.result.acked[key] = str(answer["id"])
        elif answer is None and self._attempts[key] <= RETRIES:
            self._retry.append(key)
            await asyncio.sleep(0.05)

    async def _send(
        self, session: aiohttp.ClientSession, method: str, path: str, **kwargs: Any
    ) -> dict[str, Any] | bool | None:
        """The JSON body of a 2xx, True for a 409, None for a failure."""
        sent = self.now()
        outcome: dict[str, Any] | bool | None = None
        try:
            async with session.request(method, self.spec.url + path, **kwargs) as response:
                label = str(response.status)
                if 200 <= response.status < 300:
                    outcome = await response.json() if method == "POST" else True
                elif response.status == 409:  # sold out: answered, no order
                    outcome = True
                await response.read()
        except TimeoutError:
            label = "timeout"
        except aiohttp.ClientConnectionError:
            label = "connect"
        except (aiohttp.ClientError, ValueError):
            label = "bad answer"
        self.result.samples.append(Sample(sent, self.now(), outcome is not None))
        self.result.statuses[label] = self.result.statuses.get(label, 0) + 1
        return outcome
