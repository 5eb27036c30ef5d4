"""After a scenario: is every acknowledged order there, and is none there twice?

The run's orders all belong to one customer, listed back through the gateway. An order
does not carry its Idempotency-Key, so duplicates are counted per product: every key
orders one unit of one product (a retry sends the same body), so a product with more
stored orders than keys that ordered it has that many duplicates. Lost: acknowledged
ids that are not stored. Both must be 0.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import aiohttp

from shopnet.chaos.load import LoadResult
from shopnet.common.validation import MAX_PAGE_SIZE
from shopnet.errors import DriverError


@dataclass(frozen=True, slots=True)
class OrderCheck:
    keys: int
    """Orders tried (distinct Idempotency-Keys)."""
    acked: int
    stored: int
    lost: int
    duplicates: int


def check(result: LoadResult, stored: list[dict[str, Any]]) -> OrderCheck:
    ids = {str(o["id"]) for o in stored}
    per_product = Counter(o["items"][0]["product_id"] for o in stored if o.get("items"))
    tried = Counter(result.product_of_key.values())
    return OrderCheck(
        keys=len(result.product_of_key),
        acked=len(result.acked),
        stored=len(stored),
        lost=sum(order_id not in ids for order_id in result.acked.values()),
        duplicates=sum(max(0, n - tried[p]) for p, n in per_product.items()),
    )


async def stored_orders(
    url: str, customer: str, *, headers: dict[str, str], timeout: float = 60.0
) -> list[dict[str, Any]]:
    """Every order of `customer`, page by page; a page that fails is asked again (the stack
    may still be recovering) until `timeout`."""
    deadline = time.monotonic() + timeout
    found: list[dict[str, Any]] = []
    page = 1
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=10), headers=headers
    ) as session:
        while True:
            query: dict[str, str | int] = {
                "customer_id": customer,
                "page": page,
                "page_size": MAX_PAGE_SIZE,
            }
            try:
                async with session.get(f"{url}/api/orders", params=query) as response:
                    body = await response.json() if response.status == 200 else None
            except (aiohttp.ClientError, TimeoutError, ValueError):
                body = None
            if body is None:
                if time.monotonic() > deadline:
                    raise DriverError(f"could not list the orders of {customer} to check them")
                await asyncio.sleep(0.5)
                continue
            found += body["items"]
            if len(body["items"]) < MAX_PAGE_SIZE or len(found) >= body["total"]:
                return found
            page += 1
