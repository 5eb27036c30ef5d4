"""The deterministic seed catalog: product i is the same on every run and every machine.

Everything is derived from the index (no randomness), so benchmarks and tests can
name products by id. Loading runs under a transaction-level advisory lock and
records how far it got, so instances starting together load it exactly once,
and raising SHOPNET_SEED_PRODUCTS later adds only the missing tail.
"""

from __future__ import annotations

import logging
import zlib

import asyncpg

log = logging.getLogger("shopnet.product.seed")

_ADJECTIVES = (
    "Sturdy", "Compact", "Classic", "Modern", "Rustic", "Elegant", "Portable", "Rugged",
    "Minimal", "Deluxe", "Vintage", "Smart", "Cozy", "Sleek", "Handmade", "Foldable",
)  # fmt: skip
_MATERIALS = (
    "Oak", "Steel", "Bamboo", "Linen", "Walnut", "Ceramic", "Copper", "Wool",
    "Glass", "Leather", "Cotton", "Marble", "Aluminium", "Cork", "Slate", "Rattan",
)  # fmt: skip
_NOUNS = (
    "Chair", "Lamp", "Desk", "Mug", "Backpack", "Kettle", "Shelf", "Blanket",
    "Clock", "Bottle", "Stool", "Vase", "Tray", "Speaker", "Notebook", "Planter",
)  # fmt: skip

_LOCK = zlib.crc32(b"shopnet:product:seed")
_BATCH = 5000
SOLD_OUT_EVERY = 13
"""Every 13th seed product has no stock: orders for it are refused (409), by design."""


def catalog_entry(i: int) -> tuple[str, str, str, int, str, int]:
    """(sku, name, description, price_cents, currency, stock) of seed product `i` (1-based)."""
    a, m, n = len(_ADJECTIVES), len(_MATERIALS), len(_NOUNS)
    k = i - 1
    name = f"{_ADJECTIVES[k % a]} {_MATERIALS[(k // a) % m]} {_NOUNS[(k // (a * m)) % n]}"
    if k >= a * m * n:
        name += f" Mk {k // (a * m * n) + 1}"
    price_cents = ((i * 7919) % 500) * 100 + 99  # 0.99 … 499.99, scattered by a prime stride
    stock = 0 if i % SOLD_OUT_EVERY == 0 else (i * 37) % 200 + 1
    description = f"{name}: item {i} of the shopnet seed catalog."
    return f"SN-{i:06d}", name, description, price_cents, "EUR", stock


async def load(pool: asyncpg.Pool, count: int) -> int:
    """Insert seed products up to `count`; returns how many this call inserted."""
    if count <= 0:
        return 0
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
        seeded = await conn.fetchval("SELECT seeded FROM products.seed_state") or 0
        if seeded >= count:
            return 0
        inserted = 0
        for start in range(seeded + 1, count + 1, _BATCH):
            entries = [catalog_entry(i) for i in range(start, min(start + _BATCH, count + 1))]
            columns = list(zip(*entries, strict=True))
            # ORDER BY the ordinality: on an empty table product i gets id i.
            status = await conn.execute(
                "INSERT INTO products.products "
                "(sku, name, description, price_cents, currency, stock) "
                "SELECT sku, name, description, price_cents, currency, stock FROM unnest("
                "$1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::int[]"
                ") WITH ORDINALITY AS s(sku, name, description, price_cents, currency, stock, n) "
                "ORDER BY n ON CONFLICT (sku) DO NOTHING",
                *columns,
            )
            inserted += int(status.rsplit(" ", 1)[1])
        await conn.execute(
            "INSERT INTO products.seed_state (seeded) VALUES ($1) "
            "ON CONFLICT (singleton) DO UPDATE SET seeded = EXCLUDED.seeded",
            count,
        )
    log.info("seed catalog loaded", extra={"inserted": inserted, "seed_products": count})
    return inserted
