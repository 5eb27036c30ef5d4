"""Stock reservations: the only way stock goes down for an order, and back up again.

A reservation is keyed by the order's id and written in one transaction with the
stock it takes, so it is all-or-nothing and idempotent:

- reserve: the products are locked in id order (`FOR UPDATE`; one global order, so two
  orders never deadlock), checked, and decremented. Stock can never go negative (the
  check runs under the lock, and the table's CHECK backs it up). Reserving an id that
  is already held answers the held lines again — the retry of a request whose answer
  was lost — and never takes the stock a second time.
- release: gives a held reservation's stock back, once. Releasing an id never reserved
  leaves a tombstone, so a reserve that arrives later (a request that outlived the
  order service's deadline) is refused rather than taking stock no order will use.
- confirm: the order was stored; the reservation keeps its stock for good (until a
  release: a cancelled order's). Only the order service confirms, in the transaction
  that stores the order, so a stored order's stock is never given back by expiry.
- expire: a reservation held (not confirmed) past its `expires_at` is released, stock
  and all: a caller that reserves and vanishes no longer holds stock forever.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from shopnet.common.http import Conflict, NotFound, Unprocessable
from shopnet.product.schemas import MAX_STOCK


@dataclass(frozen=True, slots=True)
class ReservedLine:
    product_id: int
    quantity: int
    unit_price_cents: int
    currency: str


class ReservationReleased(Conflict):
    """The reservation was released (or its order gave up) before this reserve arrived."""

    code = "reservation_released"


class ReservationStore:
    def __init__(self, pool: asyncpg.Pool, *, acquire_timeout: float, hold_seconds: float) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout
        self._hold_seconds = hold_seconds

    async def reserve(
        self, reservation_id: str, wanted: Sequence[tuple[int, int]]
    ) -> tuple[list[ReservedLine], bool]:
        """Take `wanted` (product id, quantity) from stock under `reservation_id`;
        (the lines with the prices they were reserved at, whether stock changed now)."""
        ids = sorted(pid for pid, _ in wanted)
        asked = [pid for pid, _ in wanted]  # the caller's order, for the error details
        quantity = dict(wanted)
        async with self._pool.acquire(timeout=self._acquire_timeout) as conn, conn.transaction():
            claimed = await conn.fetchval(
                "INSERT INTO products.reservations (id, state, expires_at) "
                "VALUES ($1, 'held', now() + $2 * interval '1 second') "
                "ON CONFLICT (id) DO NOTHING RETURNING true",
                reservation_id,
                self._hold_seconds,
            )
            if not claimed:
                return await _existing(conn, reservation_id, quantity), False
            rows = await conn.fetch(
                "SELECT id, stock, price_cents, currency FROM products.products "
                "WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE",
                ids,
            )
            found = {r["id"]: r for r in rows}
            unknown = [pid for pid in asked if pid not in found]
            if unknown:
                raise Unprocessable(
                    f"unknown products: {unknown}",
                    code="unknown_products",
                    details={"unknown_product_ids": unknown},
                )
            short = [pid for pid in asked if found[pid]["stock"] < quantity[pid]]
            if short:
                raise Conflict(
                    f"not enough stock for products {short}",
                    code="insufficient_stock",
                    details={"product_ids": short},
                )
            lines = [
                ReservedLine(pid, quantity[pid], found[pid]["price_cents"], found[pid]["currency"])
                for pid in ids
            ]
            await conn.execute(
                "UPDATE products.products p SET stock = p.stock - l.q, updated_at = now() "
                "FROM unnest($1::bigint[], $2::int[]) AS l(id, q) WHERE p.id = l.id",
                ids,
                [quantity[pid] for pid in ids],
            )
            await conn.execute(
                "INSERT INTO products.reservation_lines "
                "(reservation_id, product_id, quantity, unit_price_cents, currency) "
                "SELECT $1, p, q, u, c FROM unnest($2::bigint[], $3::int[], $4::bigint[], "
                "$5::text[]) AS l(p, q, u, c)",
                reservation_id,
                ids,
                [line.quantity for line in lines],
                [line.unit_price_cents for line in lines],
                [line.currency for line in lines],
            )
            return lines, True

    async def release(self, reservation_id: str) -> list[int]:
        """Give the reservation's stock back (once); the product ids whose stock changed."""
        async with self._pool.acquire(timeout=self._acquire_timeout) as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO products.reservations (id, state, released_at) "
                "VALUES ($1, 'released', now()) ON CONFLICT (id) DO NOTHING",
                reservation_id,
            )
            held = await conn.fetchval(
                "UPDATE products.reservations SET state = 'released', released_at = now() "
                "WHERE id = $1 AND state IN ('held', 'confirmed') RETURNING true",
                reservation_id,
            )
            if not held:
                return []
            return await _give_back(conn, [reservation_id])

    async def confirm(self, reservation_id: str) -> None:
        """Keep the reservation's stock for good (its order was stored); idempotent.
        ReservationReleased once released (expired, or given up), NotFound if unknown."""
        async with self._pool.acquire(timeout=self._acquire_timeout) as conn:
            state = await conn.fetchval(
                "UPDATE products.reservations SET state = 'confirmed', expires_at = NULL "
                "WHERE id = $1 AND state IN ('held', 'confirmed') RETURNING state",
                reservation_id,
            )
            if state is not None:
                return
            state = await conn.fetchval(
                "SELECT state FROM products.reservations WHERE id = $1", reservation_id
            )
        if state is None:
            raise NotFound(f"reservation {reservation_id} is unknown")
        raise ReservationReleased(f"reservation {reservation_id} was released")

    async def expire(self, *, limit: int = 100) -> list[int]:
        """Release up to `limit` reservations held past their expiry; the product ids
        whose stock came back."""
        async with self._pool.acquire(timeout=self._acquire_timeout) as conn, conn.transaction():
            rows = await conn.fetch(
                "UPDATE products.reservations SET state = 'released', released_at = now() "
                "WHERE id IN (SELECT id FROM products.reservations WHERE state = 'held' "
                "AND expires_at <= now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED) "
                "RETURNING id",
                limit,
            )
            if not rows:
                return []
            return await _give_back(conn, [r["id"] for r in rows])


async def _give_back(conn: asyncpg.Connection, reservation_ids: list[str]) -> list[int]:
    """Put the lines of released reservations back in stock; the product ids changed.

    The products are locked in id order first, as reserve locks them: two transactions
    never wait for each other's rows in opposite orders."""
    await conn.execute(
        "SELECT p.id FROM products.products p WHERE p.id IN (SELECT product_id FROM "
        "products.reservation_lines WHERE reservation_id = ANY($1::text[])) "
        "ORDER BY p.id FOR UPDATE",
        reservation_ids,
    )
    # Capped: a product whose stock was set near the maximum meanwhile stays valid.
    rows = await conn.fetch(
        "UPDATE products.products p SET stock = LEAST(p.stock + l.q, $2), updated_at = now() "
        "FROM (SELECT product_id, sum(quantity) AS q FROM products.reservation_lines "
        "WHERE reservation_id = ANY($1::text[]) GROUP BY product_id) l "
        "WHERE p.id = l.product_id RETURNING p.id",
        reservation_ids,
        MAX_STOCK,
    )
    return sorted(r["id"] for r in rows)


async def _existing(
    conn: asyncpg.Connection, reservation_id: str, quantity: dict[int, int]
) -> list[ReservedLine]:
    state = await conn.fetchval(
        "SELECT state FROM products.reservations WHERE id = $1", reservation_id
    )
    if state not in ("held", "confirmed"):  # confirmed: a retry whose answer was lost
        raise ReservationReleased(f"reservation {reservation_id} was released")
    rows = await conn.fetch(
        "SELECT product_id, quantity, unit_price_cents, currency "
        "FROM products.reservation_lines WHERE reservation_id = $1 ORDER BY product_id",
        reservation_id,
    )
    lines = [ReservedLine(*r) for r in rows]
    if {line.product_id: line.quantity for line in lines} != quantity:
        raise Conflict(
            f"reservation {reservation_id} holds other lines",
            code="reservation_mismatch",
        )
    return lines
