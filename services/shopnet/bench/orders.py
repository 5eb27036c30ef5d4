"""Orders against limited stock: give a few products K units each, order them one unit at
a time as fast as wrk can, and check the stock was never oversold.

Every order took one unit and every 409 was refused for want of one, so afterwards
`placed == K * products - stock_left` and `stock_left >= 0`; anything else (a lost
reservation, a unit sold twice) is a broken invariant the report shows loudly.
`placed` counts the orders stored for the run's own customers: wrk's `created` (the
201s it saw) misses those in flight when it cut the run off, so it may only be lower.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from shopnet.errors import DriverError

WORKLOAD = "order_limited"
TITLE = "Orders against limited stock (POST /api/orders, one unit each)"
STOCK_EACH = 50
PRODUCT_IDS = (1, 4)
"""First and last product id given the limited stock."""
DURATION_S = 2.0
"""Long enough to run the stock out at bench rates; the count is exact either way."""

# The bench's own calls go straight to the stack it started, never through a proxy.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


KEYS = ("stock_each", "products", "stock_left", "created", "conflicts", "placed")


@dataclass(frozen=True, slots=True)
class StockCheck:
    stock_each: int
    products: int
    stock_left: int
    """Units left over all the products, read back through the gateway after the run."""
    created: int
    """201s wrk saw."""
    conflicts: int
    placed: int
    """Orders stored for the run's customers, read back after the run."""

    @property
    def given(self) -> int:
        return self.stock_each * self.products

    @property
    def oversold(self) -> bool:
        return self.stock_left < 0

    @property
    def holds(self) -> bool:
        """Every unit sold is a created order, and none was sold twice."""
        return (
            not self.oversold
            and self.placed == self.given - self.stock_left
            and self.created <= self.placed
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "stock_each": self.stock_each,
            "products": self.products,
            "given": self.given,
            "stock_left": self.stock_left,
            "created": self.created,
            "conflicts": self.conflicts,
            "placed": self.placed,
            "holds": self.holds,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StockCheck:
        return cls(*(int(data[k]) for k in KEYS))


def product_ids() -> range:
    return range(PRODUCT_IDS[0], PRODUCT_IDS[1] + 1)


def give_stock(gateway: str, token: str, stock: int = STOCK_EACH) -> None:
    """PATCH every limited product's stock through the gateway, as an operator (an admin
    token) would."""
    for product_id in product_ids():
        _call("PATCH", f"{gateway}/api/products/{product_id}", token, {"stock": stock})


def stock_left(gateway: str, token: str) -> int:
    return sum(
        int(_call("GET", f"{gateway}/api/products/{product_id}", token)["stock"])
        for product_id in product_ids()
    )


def orders_placed(gateway: str, token: str, customers: list[str]) -> int:
    return sum(
        int(_call("GET", f"{gateway}/api/orders?customer_id={c}&page_size=1", token)["total"])
        for c in customers
    )


def settle() -> None:
    """Let the orders wrk cut off mid-flight finish on the server before reading back."""
    time.sleep(1.0)


def _call(method: str, url: str, token: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with _OPENER.open(request, timeout=10) as resp:
            data: dict[str, Any] = json.loads(resp.read())
            return data
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DriverError(f"bench: {method} {url} failed: {exc}") from exc
