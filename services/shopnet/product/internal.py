"""The product service's internal API: stock reservations for the order service.

    PUT    /internal/reservations/{id}   {"items": [{"product_id", "quantity"}]}
           201 held now, 200 already held (same lines), 409 insufficient_stock /
           reservation_released / reservation_mismatch, 422 unknown_products
    DELETE /internal/reservations/{id}   200 {"id", "state": "released"}, idempotent
    POST   /internal/reservations/{id}/confirm   200 {"id", "state": "confirmed"}, idempotent;
           409 reservation_released (it expired or was released), 404 unknown

A reservation not confirmed within SHOPNET_RESERVATION_HOLD_SECONDS expires: its stock
goes back (shopnet.product.reservations).

`{id}` is the order's id (a UUID), so it doubles as the reservation's idempotency key.
Not reachable through the gateway (see shopnet.common.internal).
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec
import orjson
from aiohttp import web

from shopnet.common.http import JSON, BadRequest
from shopnet.common.internal import require_caller
from shopnet.common.pg import unavailable_on_db_errors
from shopnet.common.validation import decode_body
from shopnet.product.handlers import invalidate_after_write
from shopnet.product.keys import INTERNAL_CALLERS, RESERVATIONS

MAX_LINES = 100
MAX_QUANTITY = 1000
_RESERVATION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class LineIn(msgspec.Struct, forbid_unknown_fields=True):
    product_id: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
    quantity: Annotated[int, msgspec.Meta(ge=1, le=MAX_QUANTITY)]


class ReservationIn(msgspec.Struct, forbid_unknown_fields=True):
    items: Annotated[list[LineIn], msgspec.Meta(min_length=1, max_length=MAX_LINES)]


def add_routes(app: web.Application) -> None:
    app.router.add_put("/internal/reservations/{id}", reserve)
    app.router.add_delete("/internal/reservations/{id}", release)
    app.router.add_post("/internal/reservations/{id}/confirm", confirm)


async def reserve(request: web.Request) -> web.Response:
    reservation_id = _reservation_id(request)
    wanted = await decode_body(request, ReservationIn)
    pairs = [(line.product_id, line.quantity) for line in wanted.items]
    if len({pid for pid, _ in pairs}) != len(pairs):
        raise BadRequest("one line per product", code="validation_failed")
    async with unavailable_on_db_errors():
        lines, changed = await request.app[RESERVATIONS].reserve(reservation_id, pairs)
    if changed:
        for line in lines:
            await invalidate_after_write(request.app, line.product_id)
    body = {
        "id": reservation_id,
        "state": "held",
        "items": lines,  # dataclasses: orjson writes their fields
    }
    return web.Response(body=orjson.dumps(body), status=201 if changed else 200, content_type=JSON)


async def release(request: web.Request) -> web.Response:
    reservation_id = _reservation_id(request)
    async with unavailable_on_db_errors():
        released = await request.app[RESERVATIONS].release(reservation_id)
    for product_id in released:
        await invalidate_after_write(request.app, product_id)
    body = {"id": reservation_id, "state": "released"}
    return web.Response(body=orjson.dumps(body), content_type=JSON)


async def confirm(request: web.Request) -> web.Response:
    reservation_id = _reservation_id(request)
    async with unavailable_on_db_errors():
        await request.app[RESERVATIONS].confirm(reservation_id)
    body = {"id": reservation_id, "state": "confirmed"}
    return web.Response(body=orjson.dumps(body), content_type=JSON)


def _reservation_id(request: web.Request) -> str:
    require_caller(request, request.app[INTERNAL_CALLERS])
    raw = request.match_info["id"]
    if not _RESERVATION_ID.fullmatch(raw):
        raise BadRequest("a reservation id is a lower-case UUID", code="validation_failed")
    return raw
