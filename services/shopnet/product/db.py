"""The catalog's queries. Each method is one statement, so each write commits on return.

`queries` counts the statements sent: the cache tests use it to prove that a hit
costs no query and that concurrent misses cost one.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from shopnet.common.http import Conflict
from shopnet.product.schemas import COLUMNS, ListQuery, ProductIn

_SELECT = ", ".join(COLUMNS)
_TABLE = "products.products"


class ProductStore:
    def __init__(self, pool: asyncpg.Pool, *, acquire_timeout: float) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout
        self.queries = 0

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        self.queries += 1
        async with self._pool.acquire(timeout=self._acquire_timeout) as conn:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
            return rows

    async def _fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        rows = await self._fetch(sql, *args)
        return rows[0] if rows else None

    # -- reads ----------------------------------------------------------------

    async def get(self, product_id: int) -> asyncpg.Record | None:
        return await self._fetchrow(f"SELECT {_SELECT} FROM {_TABLE} WHERE id = $1", product_id)

    async def page(self, query: ListQuery) -> tuple[list[asyncpg.Record], int]:
        """One page of matching products by id, and how many match in all (one snapshot)."""
        where, args = _filters(query)
        args += [query.page.page_size, query.page.offset]
        n = len(args)
        rows = await self._fetch(
            f"WITH matched AS (SELECT {_SELECT} FROM {_TABLE} WHERE {where}) "
            f"SELECT t.total, p.* FROM (SELECT count(*) AS total FROM matched) t "
            f"LEFT JOIN LATERAL (SELECT * FROM matched ORDER BY id LIMIT ${n - 1} OFFSET ${n}) p "
            "ON true",
            *args,
        )
        total = rows[0]["total"]
        # An empty page still yields one row (the count), with a NULL product.
        return [r for r in rows if r["id"] is not None], total

    # -- writes ---------------------------------------------------------------

    async def create(self, product: ProductIn) -> asyncpg.Record:
        return await _unique_sku(
            self._fetchrow(
                f"INSERT INTO {_TABLE} (sku, name, description, price_cents, currency, stock) "
                f"VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_SELECT}",
                product.sku,
                product.name,
                product.description,
                product.price_cents,
                product.currency,
                product.stock,
            ),
            product.sku,
        )

    async def update(self, product_id: int, changes: dict[str, Any]) -> asyncpg.Record | None:
        """Set the given writable fields (all of them for PUT); None when the id is unknown."""
        if not changes:
            return await self.get(product_id)
        columns = list(changes)
        assignments = ", ".join(f"{c} = ${i}" for i, c in enumerate(columns, start=2))
        return await _unique_sku(
            self._fetchrow(
                f"UPDATE {_TABLE} SET {assignments}, updated_at = now() "
                f"WHERE id = $1 RETURNING {_SELECT}",
                product_id,
                *(changes[c] for c in columns),
            ),
            changes.get("sku"),
        )

    async def delete(self, product_id: int) -> bool:
        row = await self._fetchrow(f"DELETE FROM {_TABLE} WHERE id = $1 RETURNING id", product_id)
        return row is not None


async def _unique_sku(statement: Any, sku: str | None) -> Any:
    try:
        return await statement
    except asyncpg.UniqueViolationError:
        raise Conflict(f"a product with sku {sku!r} already exists") from None


def _filters(query: ListQuery) -> tuple[str, list[Any]]:
    conditions: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if query.q is not None:
        # Substring match: escape LIKE's own wildcards in what the user typed. The ICU
        # collation folds case beyond ASCII ("CAFÉ" finds "café"; the database is C locale).
        pattern = arg("%" + _escape_like(query.q) + "%")
        conditions.append(f'(name COLLATE "und-x-icu" ILIKE {pattern} OR sku ILIKE {pattern})')
    if query.min_price_cents is not None:
        conditions.append(f"price_cents >= {arg(query.min_price_cents)}")
    if query.max_price_cents is not None:
        conditions.append(f"price_cents <= {arg(query.max_price_cents)}")
    if query.currency is not None:
        conditions.append(f"currency = {arg(query.currency)}")
    if query.in_stock is not None:
        conditions.append("stock > 0" if query.in_stock else "stock = 0")
    if query.ids is not None:
        conditions.append(f"id = ANY({arg(list(query.ids))}::bigint[])")
    return " AND ".join(conditions) or "true", args


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
