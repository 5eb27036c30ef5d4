"""Stock and prices from the product service: discovered through the registry, balanced
client-side.

One call reserves a whole order and answers its prices (`PUT
/internal/reservations/{order id}`); one call gives the stock back (`DELETE …`). Both
are idempotent by the order's id, so a connection error, timeout or 5xx is retried on
*another* instance without any risk of reserving twice. Instances come from a registry
watch; each call goes to the next available instance (round robin, with passive
ejection of failing ones). This is the only layer that retries these calls.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Annotated, Any

import aiohttp
import msgspec
import orjson

from shopnet.common.health import CheckResult, CheckStatus
from shopnet.common.http import JSON, BadGateway, Conflict, ServiceUnavailable, Unprocessable
from shopnet.common.internal import bearer
from shopnet.common.registry_client import RegistryClient, ServiceInstance, ServiceWatch
from shopnet.common.upstreams import UNAVAILABLE_STATUSES, Endpoint, UpstreamPool

log = logging.getLogger("shopnet.order.catalog")


class Reserved(msgspec.Struct, frozen=True):
    """One reserved line with the price it was reserved at (other fields are ignored)."""

    product_id: Annotated[int, msgspec.Meta(ge=1)]
    quantity: Annotated[int, msgspec.Meta(ge=1)]
    unit_price_cents: Annotated[int, msgspec.Meta(ge=0)]
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}\Z")]


class _Reservation(msgspec.Struct):
    items: list[Reserved]


class _ErrorDetail(msgspec.Struct):
    code: str = ""
    message: str = ""
    details: Any = None


class _Error(msgspec.Struct):
    error: _ErrorDetail


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
        token: str | None = None,
    ) -> None:
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._attempts = attempts
        self._headers = bearer(token)
        self.pool = UpstreamPool(service, on_eject=self._ejected)
        self._watch = ServiceWatch(
            RegistryClient(session, registry_url), service, self._discovered, wait=watch_wait
        )

    def start(self) -> None:
        self._watch.start()

    async def stop(self) -> None:
        await self._watch.stop()

    async def reserve(
        self, order_id: uuid.UUID, lines: Sequence[tuple[int, int]]
    ) -> dict[int, Reserved]:
        """Take (product id, quantity) `lines` from stock for the order; the reserved lines
        by product id. 409 insufficient_stock, 422 unknown_products as the product says."""
        body = orjson.dumps({"items": [{"product_id": p, "quantity": q} for p, q in lines]})
        status, answer = await self._call("PUT", order_id, body)
        if status in (200, 201):
            try:
                items = msgspec.json.decode(answer, type=_Reservation).items
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                raise BadGateway(f"product service sent an unreadable reservation: {exc}") from None
            return {line.product_id: line for line in items}
        error = _error(answer)
        if status == 409 and error.code == "insufficient_stock":
            raise Conflict(error.message, code=error.code, details=error.details)
        if status == 422 and error.code == "unknown_products":
            raise Unprocessable(error.message, code=error.code, details=error.details)
        raise BadGateway(f"product service refused the reservation: HTTP {status} {error.code}")

    async def release(self, order_id: uuid.UUID) -> None:
        """Give the order's reserved stock back (nothing happens the second time)."""
        status, _ = await self._call("DELETE", order_id, None)
        if status != 200:
            raise BadGateway(f"product service refused to release a reservation: HTTP {status}")

    async def confirm(self, order_id: uuid.UUID) -> None:
        """Tell the product service the order is being stored: its reservation keeps its
        stock for good (unconfirmed ones expire). Called inside the storing transaction, so
        an order is stored only if its reservation was confirmed."""
        status, answer = await self._call("POST", order_id, None, "/confirm")
        if status != 200:
            error = _error(answer)
            raise BadGateway(
                f"product service refused to confirm a reservation: HTTP {status} {error.code}"
            )

    async def _call(
        self, method: str, order_id: uuid.UUID, body: bytes | None, action: str = ""
    ) -> tuple[int, bytes]:
        path = f"/internal/reservations/{order_id}{action}"
        headers = {**self._headers, "Content-Type": JSON} if body else self._headers
        tried: list[Endpoint] = []
        problem = "no instance discovered"
        while len(tried) < self._attempts:
            endpoint = self.pool.pick(exclude=tried)
            if endpoint is None:
                break
            tried.append(endpoint)
            try:
                async with self._session.request(
                    method,
                    endpoint.base_url + path,
                    data=body,
                    headers=headers,
                    timeout=self._timeout,
                ) as resp:
                    status, answer = resp.status, await resp.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.pool.failed(endpoint)
                problem = f"{endpoint.id}: {type(exc).__name__} {exc}".strip()
                continue
            if status in UNAVAILABLE_STATUSES:
                self.pool.failed(endpoint)
                problem = f"{endpoint.id}: HTTP {status}"
                continue
            self.pool.succeeded(endpoint)
            return status, answer
        raise ServiceUnavailable(f"product service unavailable ({problem})", retry_after=1)

    async def readiness(self) -> CheckResult:
        if self.pool.available():
            return CheckResult(CheckStatus.OK)
        # Orders can still be read; only new ones cannot be placed.
        return CheckResult(CheckStatus.DEGRADED, "no product instance available")

    def _discovered(self, instances: list[ServiceInstance]) -> None:
        self.pool.update(instances)
        log.info("product instances changed", extra={"upstreams": [i.id for i in instances]})

    def _ejected(self, endpoint: Endpoint) -> None:
        log.warning(
            "product instance ejected after repeated failures",
            extra={"upstream": endpoint.id},
        )


def _error(body: bytes) -> _ErrorDetail:
    try:
        return msgspec.json.decode(body, type=_Error).error
    except (msgspec.ValidationError, msgspec.DecodeError):
        return _ErrorDetail()
