"""The orders' queries. An order and its lines are written in one transaction.

Idempotency is decided by the database, not by a read-then-write in the app: the
order row is inserted with ON CONFLICT (idempotency_key) DO NOTHING, so of any
number of concurrent requests with one key exactly one inserts; PostgreSQL makes
the others wait until it commits (or rolls back), and then they read the winner.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from shopnet.common.validation import Page

_ORDER = "o.id, o.customer_id, o.total_cents, o.currency, o.created_at, o.request_fingerprint"
_LINE = "i.product_id, i.quantity, i.unit_price_cents"


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
    idempotency_key: str | None = None
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


class OrderStore:
    def __init__(self, pool: asyncpg.Pool, *, acquire_timeout: float) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout

    async def create(self, order: NewOrder) -> tuple[StoredOrder, bool]:
        """Store the order and its lines atomically; (order, True) when this call created it,
        (the earlier order with the same idempotency key, False) when one exists."""
        async with self._pool.acquire(timeout=self._acquire_timeout) as conn:
            async with conn.transaction():
                # A 201 promises the order survives a crash: never let a server- or
                # role-level synchronous_commit=off weaken that for this transaction.
                await conn.execute("SET LOCAL synchronous_commit TO on")
                row = await conn.fetchrow(
                    "INSERT INTO orders.orders AS o (id, customer_id, total_cents, currency, "
                    "idempotency_key, request_fingerprint) VALUES ($1, $2, $3, $4, $5, $6) "
                    f"ON CONFLICT (idempotency_key) DO NOTHING RETURNING {_ORDER}",
                    order.id,
                    order.customer_id,
                    order.total_cents,
                    order.currency,
                    order.idempotency_key,
                    order.fingerprint,
                )
                if row is not None:
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
            if row is not None:
                return _stored(row, order.lines), True
        # Another request holds this key and has committed: answer with its order.
        winner = await self.by_idempotency_key(order.idempotency_key or "")
        if winner is None:  # only if someone deleted it by hand in between
            raise RuntimeError(f"idempotency key {order.idempotency_key!r} conflicts, no order")
        return winner, False

    async def get(self, order_id: uuid.UUID) -> StoredOrder | None:
        return await self._one("o.id = $1", order_id)

    async def by_idempotency_key(self, key: str) -> StoredOrder | None:
        return await self._one("o.idempotency_key = $1", key)

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
        async with self._pool.acquire(timeout=self._acquire_timeout) as conn:
            return await conn.fetch(sql, *args)


def _stored(row: asyncpg.Record, lines: tuple[Line, ...]) -> StoredOrder:
    return StoredOrder(
        id=row["id"],
        customer_id=row["customer_id"],
        total_cents=row["total_cents"],
        currency=row["currency"],
        created_at=row["created_at"],
        fingerprint=row["request_fingerprint"],
        lines=lines,
    )


def _group(rows: Iterable[asyncpg.Record]) -> list[StoredOrder]:
    """Order-and-line rows (ordered by order, then line) → orders with their lines."""
    grouped: dict[uuid.UUID, tuple[asyncpg.Record, list[Line]]] = {}
    for row in rows:
        _, lines = grouped.setdefault(row["id"], (row, []))
        lines.append(Line(row["product_id"], row["quantity"], row["unit_price_cents"]))
    return [_stored(row, tuple(lines)) for row, lines in grouped.values()]
