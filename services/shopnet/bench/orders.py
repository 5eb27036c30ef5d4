"""Orders against limited stock: give a few products K units each, order them one unit at
a time as fast as wrk can, and check the stock was never oversold.

Every 201 took one unit and every 409 was refused for want of one, so afterwards
`created == K * products - stock_left` and `stock_left >= 0`; anything else (a lost
reservation, a unit sold twice) is a broken invariant the report shows loudly.
"""

from __future__ import annotations

import json
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
MAX_DURATION_S = 2.0
"""The stock runs out in well under a second; the rest of the run is all conflicts."""

# The bench's own calls go straight to the stack it started, never through a proxy.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True, slots=True)
class StockCheck:
    stock_each: int
    products: int
    stock_left: int
    """Units left over all the products, read back through the gateway after the run."""
    created: int
    conflicts: int

    @property
    def given(self) -> int:
        return self.stock_each * self.products

    @property
    def oversold(self) -> bool:
        return self.stock_left < 0

    @property
    def holds(self) -> bool:
        """Every unit sold is a created order, and none was sold twice."""
        return not self.oversold and self.created == self.given - self.stock_left

    def to_json(self) -> dict[str, Any]:
        return {
            "stock_each": self.stock_each,
            "products": self.products,
            "given": self.given,
            "stock_left": self.stock_left,
            "created": self.created,
            "conflicts": self.conflicts,
            "holds": self.holds,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StockCheck:
        return cls(
            *(
                int(data[k])
                for k in ("stock_each", "products", "stock_left", "created", "conflicts")
            )
        )


def product_ids() -> range:
    return range(PRODUCT_IDS[0], PRODUCT_IDS[1] + 1)


def give_stock(gateway: str, stock: int = STOCK_EACH) -> None:
    """PATCH every limited product's stock through the gateway, as an operator would."""
    for product_id in product_ids():
        _call("PATCH", f"{gateway}/api/products/{product_id}", {"stock": stock})


def stock_left(gateway: str) -> int:
    return sum(
        int(_call("GET", f"{gateway}/api/products/{product_id}")["stock"])
        for product_id in product_ids()
    )


def _call(method: str, url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with _OPENER.open(request, timeout=10) as resp:
            data: dict[str, Any] = json.loads(resp.read())
            return data
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DriverError(f"bench: {method} {url} failed: {exc}") from exc
