"""Placing an order and cancelling one: stock, idempotency and the time budget together.

Placing, in this order:

1. claim the Idempotency-Key (if any) for a fresh order id — or replay, 409, 422;
2. write a *hold* for the order id, due at the order's deadline;
3. reserve the stock at the product service under the order id (idempotent there);
4. store the order, its idempotency outcome, confirm the reservation at the product
   service (unconfirmed ones expire there), and delete the hold — one transaction that
   refuses to commit once the deadline has passed.

If anything fails before 4 commits, the stock is released and the hold and key dropped.
If the process dies in between, the hold outlives its deadline and recovery (every
SHOPNET_ORDER_RECOVERY_SECONDS, and at start) *releases* the stock: a half-placed order is
never completed, because its client was told nothing and will retry with its key.

The deadline is the request's budget (the gateway's X-Request-Budget-Ms, at most
SHOPNET_ORDER_BUDGET_SECONDS) less a margin, so the order gives up and answers 504
before the gateway would — a 504 never hides an order stored later.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from aiohttp import web

from shopnet.common.background import pause
from shopnet.common.http import JSON, GatewayTimeout, Unprocessable, request_budget
from shopnet.common.pg import unavailable_on_db_errors
from shopnet.order import idempotency
from shopnet.order.db import HoldExpired, Line, NewOrder, StoredOrder
from shopnet.order.keys import CATALOG, ORDER_CONFIG, STORE
from shopnet.order.schemas import OrderIn, dumps, order_dict

log = logging.getLogger("shopnet.order.placing")

# Bounds on giving stock back at once (past them, recovery does it): after a cancel, and
# at least, after a failed order whose caller is waiting.
_RELEASE_SECONDS = 1.0
_MIN_RELEASE_SECONDS = 0.05


async def place(request: web.Request, order: OrderIn, key: str | None) -> web.Response:
    app = request.app
    cfg, store, catalog = app[ORDER_CONFIG], app[STORE], app[CATALOG]
    loop = asyncio.get_running_loop()
    seconds = request_budget(request, cfg.budget_seconds) - cfg.budget_margin_seconds
    if seconds <= 0:
        raise GatewayTimeout("no time left to place the order", code="deadline_exceeded")
    deadline = loop.time() + seconds
    fingerprint = order.fingerprint()
    order_id = uuid.uuid4()
    claim = None if key is None else (order.customer_id, key)

    async with unavailable_on_db_errors():
        if key is not None:
            stored = await idempotency.claim(
                store,
                customer_id=order.customer_id,
                key=key,
                fingerprint=fingerprint,
                order_id=order_id,
                ttl_seconds=cfg.idempotency_ttl_seconds,
                hold_seconds=seconds,
            )
            if stored is not None:
                return _answer(stored.status, stored.body, stored.order_id, replayed=True)
        else:
            await store.hold(order_id, seconds=seconds)

    stored_order: StoredOrder | None = None
    try:
        async with asyncio.timeout_at(deadline):
            reserved = await catalog.reserve(
                order_id, [(line.product_id, line.quantity) for line in order.items]
            )
        currencies = {line.currency for line in reserved.values()}
        if len(currencies) > 1:
            raise Unprocessable(
                f"the products are priced in different currencies "
                f"({', '.join(sorted(currencies))}); an order has one currency",
                code="mixed_currencies",
                details={"currencies": {str(p): r.currency for p, r in reserved.items()}},
            )
        new = NewOrder(
            id=order_id,
            customer_id=order.customer_id,
            currency=currencies.pop(),
            lines=tuple(
                Line(line.product_id, line.quantity, reserved[line.product_id].unit_price_cents)
                for line in order.items
            ),
            fingerprint=fingerprint,
        )
        # Not under the timeout: a cancellation after COMMIT would release a stored order's
        # stock. The transaction checks the deadline itself, as its last statement.
        async with unavailable_on_db_errors():
            stored_order = await store.create(
                new, outcome=lambda o: dumps(order_dict(o)), key=claim, confirm=catalog.confirm
            )
    except TimeoutError:
        await _give_back(app, order_id, until=deadline + cfg.budget_margin_seconds / 2)
        raise GatewayTimeout(
            f"the order could not be placed within {seconds:.3g}s", code="deadline_exceeded"
        ) from None
    except HoldExpired:
        await _give_back(app, order_id, until=deadline + cfg.budget_margin_seconds / 2)
        raise GatewayTimeout(
            f"the order could not be stored within {seconds:.3g}s", code="deadline_exceeded"
        ) from None
    except BaseException:
        if stored_order is None:
            await _give_back(app, order_id, until=deadline + cfg.budget_margin_seconds / 2)
        raise
    return _answer(201, dumps(order_dict(stored_order)), order_id, replayed=False)


async def _give_back(app: web.Application, order_id: uuid.UUID, *, until: float) -> None:
    """Release the order's stock (if its hold is still there: it is gone once the order was
    stored) and drop its hold and in-flight key; if that cannot be done by `until` (the
    caller is waiting for the answer), leave it to recovery."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout_at(max(until, loop.time() + _MIN_RELEASE_SECONDS)):
            await app[STORE].release_held(app[CATALOG].release, order_id=order_id)
    except Exception as exc:
        log.warning(
            "could not release an order's stock now; recovery will",
            extra={"order_id": str(order_id), "error": f"{type(exc).__name__}: {exc}"},
        )


async def cancel(request: web.Request, order_id: uuid.UUID) -> StoredOrder | None:
    """Cancel the order (idempotent) and give its stock back; None if there is none."""
    async with unavailable_on_db_errors():
        order = await request.app[STORE].cancel(order_id)
    if order is not None:
        loop = asyncio.get_running_loop()
        await _give_back(request.app, order_id, until=loop.time() + _RELEASE_SECONDS)
    return order


async def recover(app: web.Application) -> None:
    """Forever: give back the stock of holds past their deadline (see the module doc)."""
    cfg, store, catalog = app[ORDER_CONFIG], app[STORE], app[CATALOG]
    while True:
        try:
            released = await store.release_held(catalog.release)
        except Exception as exc:
            log.warning("stock recovery failed; retrying", extra={"error": repr(exc)})
        else:
            if released:
                log.info(
                    "released the stock of unfinished or cancelled orders",
                    extra={"order_ids": [str(o) for o in released]},
                )
        await pause(cfg.recovery_seconds)


def _answer(status: int, body: bytes, order_id: uuid.UUID, *, replayed: bool) -> web.Response:
    headers = {"Location": f"/orders/{order_id}"}
    if replayed:
        headers[idempotency.REPLAYED] = "true"
    return web.Response(body=body, status=status, content_type=JSON, headers=headers)
