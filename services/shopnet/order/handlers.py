"""HTTP handlers of the order service."""

from __future__ import annotations

import re
import uuid

from aiohttp import web

from shopnet.common.http import JSON, BadRequest, NotFound
from shopnet.common.pg import unavailable_on_db_errors
from shopnet.common.validation import Page, decode_body, known_params
from shopnet.order import idempotency, placing
from shopnet.order.keys import STORE
from shopnet.order.schemas import CUSTOMER_PATTERN, UUID_PATTERN, OrderIn, dumps, order_dict

_CUSTOMER = re.compile(CUSTOMER_PATTERN)
_UUID = re.compile(UUID_PATTERN)


async def create_order(request: web.Request) -> web.Response:
    known_params(request)
    key = idempotency.parse_key(request.headers)
    order = await decode_body(request, OrderIn)
    order.check()
    return await placing.place(request, order, key)


async def cancel_order(request: web.Request) -> web.Response:
    known_params(request)
    order = await placing.cancel(request, _order_id(request))
    if order is None:
        raise NotFound(f"order {request.match_info['id']} not found")
    return web.Response(body=dumps(order_dict(order)), content_type=JSON)


def _order_id(request: web.Request) -> uuid.UUID:
    raw = request.match_info["id"]
    if not _UUID.fullmatch(raw):  # only the hyphenated form the API hands out
        raise BadRequest("order id must be a UUID", code="validation_failed")
    return uuid.UUID(raw)


async def get_order(request: web.Request) -> web.Response:
    known_params(request)
    order_id = _order_id(request)
    async with unavailable_on_db_errors():
        order = await request.app[STORE].get(order_id)
    if order is None:
        raise NotFound(f"order {order_id} not found")
    return web.Response(body=dumps(order_dict(order)), content_type=JSON)


async def list_orders(request: web.Request) -> web.Response:
    known_params(request, "customer_id", "page", "page_size")
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
