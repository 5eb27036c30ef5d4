"""Prices from the product service: discovered through the registry, balanced client-side.

One request prices a whole order (`GET /products?ids=…`). Instances come from a
registry watch; each call goes to the next available instance (round robin,
with passive ejection of failing ones), and a connection error, timeout or 5xx
is retried once more on *another* instance. Reads are idempotent, so retrying
them is safe; this is the only layer that retries this call.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Annotated

import aiohttp
import msgspec

from shopnet.common.health import CheckResult, CheckStatus
from shopnet.common.http import BadGateway, ServiceUnavailable
from shopnet.common.registry_client import RegistryClient, ServiceInstance, ServiceWatch
from shopnet.common.upstreams import Endpoint, UpstreamPool

log = logging.getLogger("shopnet.order.catalog")


class Price(msgspec.Struct, frozen=True):
    """The part of a product an order needs (other fields are ignored)."""

    id: Annotated[int, msgspec.Meta(ge=1)]
    price_cents: Annotated[int, msgspec.Meta(ge=0)]
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}\Z")]


class _PriceList(msgspec.Struct):
    items: list[Price]


class ProductCatalog:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        registry_url: str,
        service: str,
        timeout: float,
        attempts: int,
        watch_wait: float,
    ) -> None:
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._attempts = attempts
        self.pool = UpstreamPool(service, on_eject=self._ejected)
        self._watch = ServiceWatch(
            RegistryClient(session, registry_url), service, self._discovered, wait=watch_wait
        )

    def start(self) -> None:
        self._watch.start()

    async def stop(self) -> None:
        await self._watch.stop()

    async def prices(self, product_ids: Sequence[int]) -> dict[int, Price]:
        """Current prices of the products that exist among `product_ids` (at most 100)."""
        path = "/products?page_size=100&ids=" + ",".join(map(str, product_ids))
        tried: list[Endpoint] = []
        problem = "no instance discovered"
        while len(tried) < self._attempts:
            endpoint = self.pool.pick(exclude=tried)
            if endpoint is None:
                break
            tried.append(endpoint)
            try:
                async with self._session.get(
                    endpoint.base_url + path, timeout=self._timeout
                ) as resp:
                    status, body = resp.status, await resp.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.pool.failed(endpoint)
                problem = f"{endpoint.id}: {type(exc).__name__} {exc}".strip()
                continue
            if status >= 500:
                self.pool.failed(endpoint)
                problem = f"{endpoint.id}: HTTP {status}"
                continue
            self.pool.succeeded(endpoint)
            if status != 200:
                raise BadGateway(f"product service refused the price query: HTTP {status}")
            try:
                items = msgspec.json.decode(body, type=_PriceList).items
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                raise BadGateway(f"product service sent an unreadable price list: {exc}") from None
            return {price.id: price for price in items}
        raise ServiceUnavailable(f"product service unavailable ({problem})", retry_after=1)

    async def readiness(self) -> CheckResult:
        if self.pool.available():
            return CheckResult(CheckStatus.OK)
        # Orders can still be read; only new ones cannot be priced.
        return CheckResult(CheckStatus.DEGRADED, "no product instance available")

    def _discovered(self, instances: list[ServiceInstance]) -> None:
        self.pool.update(instances)
        log.info("product instances changed", extra={"upstreams": [i.id for i in instances]})

    def _ejected(self, endpoint: Endpoint) -> None:
        log.warning(
            "product instance ejected after repeated failures",
            extra={"upstream": endpoint.id},
        )
