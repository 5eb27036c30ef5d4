"""The orders' queries. An order, its lines and its idempotency outcome are written in one
transaction, which also deletes the order's stock hold — but only while the hold's deadline
has not passed, so an order whose caller has given up is never stored (see `holds` in
migrations/002_stock_and_keys.sql and shopnet.order.placing).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from shopnet.common.validation import Page

_ORDER = (
    "o.id, o.customer_id, o.total_cents, o.currency, o.created_at, o.request_fingerprint, o.status"
)
_LINE = "i.product_id, i.quantity, i.unit_price_cents"


class HoldExpired(Exception):
    """The order's deadline passed (or recovery released its stock) before it was stored."""


@dataclass(frozen=True, slots=True)
class Line:
    product_id: int
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True, slots=True)
class NewOrder:
    """A priced order, ready to be stored."""

    customer_id: str
    currency: str
    lines: tuple[Line, ...]
    fingerprint: str
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def total_cents(self) -> int:
        return sum(line.quantity * line.unit_price_cents for line in self.lines)


@dataclass(frozen=True, slots=True)
class StoredOrder:
    id: uuid.UUID
    customer_id: str
    total_cents: int
    currency: str
    created_at: datetime
    fingerprint: str
    lines: tuple[Line, ...]
    status: str = "placed"


class OrderStore:
    def __init__(self, pool: asyncpg.Pool, *, acquire_timeout: float) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout

    def acquire(self) -> asyncpg.pool.PoolAcquireContext:
        return self._pool.acquire(timeout=self._acquire_timeout)

    async def hold(
        self, order_id: uuid.UUID, *, seconds: float, conn: asyncpg.Connection | None = None
    ) -> None:
        """Record, before reserving, that the order's stock is to be released after `seconds`
        unless the order is stored by then (on `conn`, e.g. in its transaction)."""
        if conn is None:
            async with self.acquire() as own:
                return await self.hold(order_id, seconds=seconds, conn=own)
        await conn.execute(
            "INSERT INTO orders.holds (order_id, release_after) "
            "VALUES ($1, clock_timestamp() + $2 * interval '1 second')",
            order_id,
            seconds,
        )

    async def create(
        self,
        order: NewOrder,
        *,
        outcome: Callable[[StoredOrder], bytes],
        key: tuple[str, str] | None,
        confirm: Callable[[uuid.UUID], Awaitable[object]] | None = None,
    ) -> StoredOrder:
        """Store the order and its lines, and `outcome(order)` under the (customer, key)
        claim, atomically; HoldExpired (nothing stored) once the order's deadline passed.

        `confirm(order id)` (the product service's reservation confirm) runs inside the
        transaction, before its deadline check: if it fails nothing is stored; if the
        commit fails after it, the hold stays and recovery releases the stock."""
        async with self.acquire() as conn, conn.transaction():
            # A 201 promises the order survives a crash: never let a server- or
            # role-level synchronous_commit=off weaken that for this transaction.
            await conn.execute("SET LOCAL synchronous_commit TO on")
            row = await conn.fetchrow(
                "INSERT INTO orders.orders AS o (id, customer_id, total_cents, currency, "
                f"request_fingerprint) VALUES ($1, $2, $3, $4, $5) RETURNING {_ORDER}",
                order.id,
                order.customer_id,
                order.total_cents,
                order.currency,
                order.fingerprint,
            )
            await conn.execute(
                "INSERT INTO orders.order_items "
                "(order_id, line, product_id, quantity, unit_price_cents) "
                "SELECT $1, n, p, q, u FROM unnest($2::bigint[], $3::int[], $4::bigint[]) "
                "WITH ORDINALITY AS l(p, q, u, n)",
                order.id,
                [line.product_id for line in order.lines],
                [line.quantity for line in order.lines],
                [line.unit_price_cents for line in order.lines],
            )
            stored = _stored(row, order.lines)
            if key is not None:
                await conn.execute(
                    "UPDATE orders.idempotency_keys SET status = 201, body = $4 "
                    "WHERE customer_id = $1 AND key = $2 AND order_id = $3",
                    *key,
                    order.id,
                    outcome(stored),
                )
            if confirm is not None:
                await confirm(order.id)
            # Last, so the deadline is checked as late as possible before the commit.
            kept = await conn.fetchval(
                "DELETE FROM orders.holds WHERE order_id = $1 "
                "AND release_after > clock_timestamp() RETURNING true",
                order.id,
            )
            if not kept:
                raise HoldExpired(f"order {order.id} passed its deadline before it was stored")
        return stored

    async def cancel(self, order_id: uuid.UUID) -> StoredOrder | None:
        """Mark the order cancelled (once) with a hold due now, so its stock goes back even
        if this process dies before releasing it; the order, or None if unknown."""
        async with self.acquire() as conn, conn.transaction():
            cancelled = await conn.fetchval(
                "UPDATE orders.orders SET status = 'cancelled', cancelled_at = now() "
                "WHERE id = $1 AND status = 'placed' RETURNING true",
                order_id,
            )
            if cancelled:
                await conn.execute(
                    "INSERT INTO orders.holds (order_id, release_after) VALUES ($1, now())",
                    order_id,
                )
        return await self.get(order_id)

    async def release_held(
        self,
        release: Callable[[uuid.UUID], Awaitable[object]],
        *,
        order_id: uuid.UUID | None = None,
        limit: int = 100,
    ) -> list[uuid.UUID]:
        """Release the stock of `order_id`'s hold, if it still has one — or, without an id,
        of the holds past their deadline (orders never stored, cancelled ones); the orders
        released. A hold row stays locked while its stock is released, so its order cannot
        commit meanwhile and two recoverers never work on one; a failed release keeps it."""
        done: list[uuid.UUID] = []
        async with self.acquire() as conn, conn.transaction():
            if order_id is not None:
                held = await conn.fetch(
                    "SELECT order_id FROM orders.holds WHERE order_id = $1 FOR UPDATE", order_id
                )
            else:
                held = await conn.fetch(
                    "SELECT order_id FROM orders.holds WHERE release_after <= clock_timestamp() "
                    "ORDER BY release_after LIMIT $1 FOR UPDATE SKIP LOCKED",
                    limit,
                )
            for row in held:
                try:
                    await release(row["order_id"])
                except Exception:
                    if order_id is not None:
                        raise
                    break  # the product service is away: the rest waits for the next round
                done.append(row["order_id"])
            await _forget(conn, done)
            await conn.execute(
                "DELETE FROM orders.idempotency_keys WHERE order_id = ANY($1::uuid[]) "
                "AND status IS NULL",
                done,
            )
            if order_id is None:
                # Expired keys: their orders stay, the key may name a new order.
                await conn.execute(
                    "DELETE FROM orders.idempotency_keys "
                    "WHERE expires_at <= now() AND status IS NOT NULL"
                )
        return done

    async def get(self, order_id: uuid.UUID) -> StoredOrder | None:
        return await self._one("o.id = $1", order_id)

    async def for_customer(self, customer_id: str, page: Page) -> tuple[list[StoredOrder], int]:
        """One page of a customer's orders, newest first, and how many they have (one snapshot)."""
        rows = await self._fetch(
            "WITH page AS (SELECT * FROM orders.orders WHERE customer_id = $1 "
            "ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3) "
            f"SELECT t.total, {_ORDER}, {_LINE} "
            "FROM (SELECT count(*) AS total FROM orders.orders WHERE customer_id = $1) t "
            "LEFT JOIN page o ON true LEFT JOIN orders.order_items i ON i.order_id = o.id "
            "ORDER BY o.created_at DESC, o.id DESC, i.line",
            customer_id,
            page.page_size,
            page.offset,
        )
        total = rows[0]["total"]
        return _group(r for r in rows if r["id"] is not None), total

    async def _one(self, condition: str, arg: object) -> StoredOrder | None:
        rows = await self._fetch(
            f"SELECT {_ORDER}, {_LINE} FROM orders.orders o "
            f"JOIN orders.order_items i ON i.order_id = o.id WHERE {condition} ORDER BY i.line",
            arg,
        )
        return _group(rows)[0] if rows else None

    async def _fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        async with self.acquire() as conn:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
            return rows


async def _forget(conn: asyncpg.Connection, order_ids: list[uuid.UUID]) -> None:
    await conn.execute("DELETE FROM orders.holds WHERE order_id = ANY($1::uuid[])", order_ids)


def _stored(row: asyncpg.Record, lines: tuple[Line, ...]) -> StoredOrder:
    return StoredOrder(
        id=row["id"],
        customer_id=row["customer_id"],
        total_cents=row["total_cents"],
        currency=row["currency"],
        created_at=row["created_at"],
        fingerprint=row["request_fingerprint"],
        lines=lines,
        status=row["status"],
    )


def _group(rows: Iterable[asyncpg.Record]) -> list[StoredOrder]:
    """Order-and-line rows (ordered by order, then line) → orders with their lines."""
    grouped: dict[uuid.UUID, tuple[asyncpg.Record, list[Line]]] = {}
    for row in rows:
        _, lines = grouped.setdefault(row["id"], (row, []))
        lines.append(Line(row["product_id"], row["quantity"], row["unit_price_cents"]))
    return [_stored(row, tuple(lines)) for row, lines in grouped.values()]
