"""HTTP handlers of the order service.

Every request names its caller in the fields the gateway sets (shopnet.common.identity):
an admin may do anything; a customer may place, read, list and cancel only orders whose
customer_id is its own (403 otherwise); a request without a caller is refused (401).
"""

from __future__ import annotations

import re
import uuid

from aiohttp import web

from shopnet.common import identity
from shopnet.common.http import JSON, ApiError, BadRequest, NotFound, Unauthorized
from shopnet.common.pg import unavailable_on_db_errors
from shopnet.common.validation import Page, decode_body, known_params
from shopnet.order import idempotency, placing
from shopnet.order.keys import STORE
from shopnet.order.schemas import CUSTOMER_PATTERN, UUID_PATTERN, OrderIn, dumps, order_dict

_CUSTOMER = re.compile(CUSTOMER_PATTERN)
_UUID = re.compile(UUID_PATTERN)


class Forbidden(ApiError):
    status, code = 403, "forbidden"


def _caller(request: web.Request) -> identity.Principal:
    """Who sends the request, as the gateway verified it; 401 for nobody."""
    headers = request.headers
    principal = identity.from_headers(
        headers.get(identity.ROLE_HEADER), headers.get(identity.CUSTOMER_HEADER)
    )
    if principal is None:
        raise Unauthorized(
            "orders need a customer or admin token", headers={"WWW-Authenticate": "Bearer"}
        )
    return principal


def _check_owner(caller: identity.Principal, customer_id: str) -> None:
    if not caller.admin and caller.customer != customer_id:
        raise Forbidden("this order belongs to another customer")


async def create_order(request: web.Request) -> web.Response:
    caller = _caller(request)
    known_params(request)
    key = idempotency.parse_key(request.headers)
    order = await decode_body(request, OrderIn)
    order.check()
    _check_owner(caller, order.customer_id)
    return await placing.place(request, order, key)


async def cancel_order(request: web.Request) -> web.Response:
    caller = _caller(request)
    known_params(request)
    order_id = _order_id(request)
    async with unavailable_on_db_errors():
        existing = await request.app[STORE].get(order_id)
    if existing is None:
        raise NotFound(f"order {order_id} not found")
    _check_owner(caller, existing.customer_id)
    order = await placing.cancel(request, order_id)
    if order is None:
        raise NotFound(f"order {order_id} not found")
    return web.Response(body=dumps(order_dict(order)), content_type=JSON)


def _order_id(request: web.Request) -> uuid.UUID:
    raw = request.match_info["id"]
    if not _UUID.fullmatch(raw):  # only the hyphenated form the API hands out
        raise BadRequest("order id must be a UUID", code="validation_failed")
    return uuid.UUID(raw)


async def get_order(request: web.Request) -> web.Response:
    caller = _caller(request)
    known_params(request)
    order_id = _order_id(request)
    async with unavailable_on_db_errors():
        order = await request.app[STORE].get(order_id)
    if order is None:
        raise NotFound(f"order {order_id} not found")
    _check_owner(caller, order.customer_id)
    return web.Response(body=dumps(order_dict(order)), content_type=JSON)


async def list_orders(request: web.Request) -> web.Response:
    caller = _caller(request)
    known_params(request, "customer_id", "page", "page_size")
    customer_id = request.query.get("customer_id")
    if not customer_id:
        raise BadRequest("query parameter 'customer_id' is required", code="validation_failed")
    if not _CUSTOMER.match(customer_id):
        raise BadRequest("customer_id is not a valid customer id", code="validation_failed")
    _check_owner(caller, customer_id)
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
