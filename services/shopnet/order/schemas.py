"""What goes over the wire: the order request (validated while decoded), its fingerprint,
the Idempotency-Key header, and an order's JSON."""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
import orjson

from shopnet.common.http import Unprocessable

if TYPE_CHECKING:
    from shopnet.order.db import StoredOrder

MAX_LINES = 100
MAX_QUANTITY = 1000
# \Z, not $: Python's $ also matches before a final newline.
CUSTOMER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}\Z"

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z"

CustomerId = Annotated[str, msgspec.Meta(pattern=CUSTOMER_PATTERN)]


class LineIn(msgspec.Struct, forbid_unknown_fields=True):
    product_id: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
    quantity: Annotated[int, msgspec.Meta(ge=1, le=MAX_QUANTITY)]


class OrderIn(msgspec.Struct, forbid_unknown_fields=True):
    customer_id: CustomerId
    items: Annotated[list[LineIn], msgspec.Meta(min_length=1, max_length=MAX_LINES)]

    def check(self) -> None:
        """One line per product: a repeated product is refused (merging would rewrite the
        client's order behind its back). A 422, not a 400: JSON Schema cannot say "unique
        by product_id", so the OpenAPI document declares such a body valid."""
        counts = Counter(line.product_id for line in self.items)
        repeated = sorted(pid for pid, n in counts.items() if n > 1)
        if repeated:
            raise Unprocessable(
                f"products appear on more than one line: {repeated}; send one line per product",
                code="duplicate_products",
                details={"duplicate_product_ids": repeated},
            )

    def fingerprint(self) -> str:
        """SHA-256 of the request's meaning: same customer and same lines (in any order)."""
        canonical = orjson.dumps(
            [self.customer_id, sorted((line.product_id, line.quantity) for line in self.items)]
        )
        return hashlib.sha256(canonical).hexdigest()


def order_dict(order: StoredOrder) -> dict[str, Any]:
    return {
        "id": str(order.id),
        "customer_id": order.customer_id,
        "items": [
            {
                "product_id": line.product_id,
                "quantity": line.quantity,
                "unit_price_cents": line.unit_price_cents,
            }
            for line in order.lines
        ],
        "total_cents": order.total_cents,
        "currency": order.currency,
        "status": order.status,
        "created_at": order.created_at,
    }


def dumps(data: Any) -> bytes:
    """JSON with UUIDs as strings and times in ISO 8601 UTC with a `Z`."""
    return orjson.dumps(data, option=orjson.OPT_UTC_Z)
