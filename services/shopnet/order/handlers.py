"""HTTP handlers of the order service."""

from __future__ import annotations

import re
import uuid

from aiohttp import web

from shopnet.common.http import JSON, BadRequest, NotFound, Unprocessable
from shopnet.common.pg import unavailable_on_db_errors
from shopnet.common.validation import Page, decode_body
from shopnet.order.db import Line, NewOrder, StoredOrder
from shopnet.order.keys import CATALOG, STORE
from shopnet.order.schemas import CUSTOMER_PATTERN, OrderIn, dumps, idempotency_key, order_dict

# Stripe's header for "this is the stored answer to an earlier request with this key".
REPLAYED = "Idempotent-Replayed"
_CUSTOMER = re.compile(CUSTOMER_PATTERN)


async def create_order(request: web.Request) -> web.Response:
    key = idempotency_key(request.headers)
    order = await decode_body(request, OrderIn)
    order.check()
    fingerprint = order.fingerprint()
    store = request.app[STORE]
    if key is not None:
        # A retry of a request that already succeeded costs no call to the product service.
        async with unavailable_on_db_errors():
            earlier = await store.by_idempotency_key(key)
        if earlier is not None:
            return _replay(earlier, fingerprint)

    prices = await request.app[CATALOG].prices([line.product_id for line in order.items])
    unknown = [line.product_id for line in order.items if line.product_id not in prices]
    if unknown:
        raise Unprocessable(
            f"unknown products: {unknown}",
            code="unknown_products",
            details={"unknown_product_ids": unknown},
        )
    currencies = {prices[line.product_id].currency for line in order.items}
    if len(currencies) > 1:
        raise Unprocessable(
            f"the products are priced in different currencies ({', '.join(sorted(currencies))});"
            " an order has one currency",
            code="mixed_currencies",
            details={"currencies": {str(p.id): p.currency for p in prices.values()}},
        )
    new = NewOrder(
        customer_id=order.customer_id,
        currency=currencies.pop(),
        lines=tuple(
            Line(line.product_id, line.quantity, prices[line.product_id].price_cents)
            for line in order.items
        ),
        fingerprint=fingerprint,
        idempotency_key=key,
    )
    async with unavailable_on_db_errors():
        stored, created = await store.create(new)
    if not created:
        return _replay(stored, fingerprint)
    return _order_response(stored, status=201)


def _replay(order: StoredOrder, fingerprint: str) -> web.Response:
    if order.fingerprint != fingerprint:
        raise Unprocessable(
            "this Idempotency-Key was already used for a different request",
            code="idempotency_key_reused",
            details={"order_id": str(order.id)},
        )
    return _order_response(order, status=200, replayed=True)


def _order_response(order: StoredOrder, *, status: int, replayed: bool = False) -> web.Response:
    headers = {"Location": f"/orders/{order.id}"}
    if replayed:
        headers[REPLAYED] = "true"
    return web.Response(
        body=dumps(order_dict(order)), status=status, content_type=JSON, headers=headers
    )


async def get_order(request: web.Request) -> web.Response:
    raw = request.match_info["id"]
    try:
        order_id = uuid.UUID(raw)
    except ValueError:
        raise BadRequest("order id must be a UUID", code="validation_failed") from None
    async with unavailable_on_db_errors():
        order = await request.app[STORE].get(order_id)
    if order is None:
        raise NotFound(f"order {order_id} not found")
    return web.Response(body=dumps(order_dict(order)), content_type=JSON)


async def list_orders(request: web.Request) -> web.Response:
    customer_id = request.query.get("customer_id")
    if not customer_id:
        raise BadRequest("query parameter 'customer_id' is required", code="validation_failed")
    if not _CUSTOMER.match(customer_id):
        raise BadRequest("customer_id is not a valid customer id", code="validation_failed")
    page = Page.from_query(request.query)
    async with unavailable_on_db_errors():
        orders, total = await request.app[STORE].for_customer(customer_id, page)
    body = {
        "items": [order_dict(o) for o in orders],
        "page": page.page,
        "page_size": page.page_size,
        "total": total,
    }
    return web.Response(body=dumps(body), content_type=JSON)
