"""The product service app: routes, the PostgreSQL pool (migrations, seed) and the cache."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from shopnet.common.app import create_base_app
from shopnet.common.background import cancel_and_wait, pause
from shopnet.common.config import read_secret
from shopnet.common.health import CheckResult
from shopnet.common.internal import read_callers
from shopnet.common.metrics import METRICS
from shopnet.common.pg import close_pool, open_database, pool_readiness
from shopnet.common.protocol import FRONT_HANDLER
from shopnet.common.routes_memo import remembered_routes
from shopnet.product import cache, front, handlers, internal, seed
from shopnet.product.config import ProductConfig
from shopnet.product.db import ProductStore
from shopnet.product.keys import (
    CACHE,
    CACHE_METRICS,
    FLIGHTS,
    INTERNAL_CALLERS,
    POOL,
    PRODUCT_CONFIG,
    RESERVATIONS,
    STORE,
    Flights,
)
from shopnet.product.reservations import ReservationStore

__all__ = ["ProductConfig", "create_app"]

log = logging.getLogger("shopnet.product")


def create_app(cfg: ProductConfig) -> web.Application:
    app = create_base_app(
        cfg, readiness={"postgres": pool_readiness(POOL), "redis": _cache_readiness}
    )
    app[PRODUCT_CONFIG] = cfg
    app[CACHE_METRICS] = cache.CacheMetrics(app[METRICS])
    app[FLIGHTS] = Flights()
    app[INTERNAL_CALLERS] = read_callers(cfg.internal_callers_file)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_cache)
    r = app.router
    r.add_get("/products", handlers.list_products)
    r.add_post("/products", handlers.create_product)
    get_product = r.add_get("/products/{id}", handlers.get_product)
    r.add_put("/products/{id}", handlers.replace_product)
    r.add_patch("/products/{id}", handlers.patch_product)
    r.add_delete("/products/{id}", handlers.delete_product)
    internal.add_routes(app)
    # GET /products/{id} is served by the listener's own protocol; what it hands to
    # aiohttp (other routes, HEAD, queries…) asks the router the same questions again
    # and again, so the answers are remembered.
    front.install(app, get_product)
    app[FRONT_HANDLER] = remembered_routes(app)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    cfg = app[PRODUCT_CONFIG]
    pool = await open_database(
        cfg,
        schema="products",
        package="shopnet.product",
        prepare=lambda pool: seed.load(pool, cfg.seed_products),
    )
    app[POOL] = pool
    app[STORE] = ProductStore(pool, acquire_timeout=cfg.db_timeout_seconds)
    app[RESERVATIONS] = ReservationStore(
        pool, acquire_timeout=cfg.db_timeout_seconds, hold_seconds=cfg.reservation_hold_seconds
    )
    expiry = asyncio.create_task(_expire_reservations(app), name="reservation-expiry")
    yield
    await cancel_and_wait(expiry)
    await close_pool(pool, timeout=cfg.drain_seconds / 4)  # inside the drain budget


async def _expire_reservations(app: web.Application) -> None:
    """Forever: give back the stock of reservations held past their expiry (every
    instance sweeps; SKIP LOCKED keeps two from releasing the same one)."""
    cfg = app[PRODUCT_CONFIG]
    while True:
        await pause(cfg.reservation_sweep_seconds)
        try:
            for product_id in await app[RESERVATIONS].expire():
                await handlers.invalidate_after_write(app, product_id)
        except Exception as exc:  # the database is away: the next round retries
            log.warning("expiring reservations failed: %s: %s", type(exc).__name__, exc)


async def _cache(app: web.Application) -> AsyncIterator[None]:
    cfg = app[PRODUCT_CONFIG]
    client = cache.connect(
        cfg.redis_url,
        timeout=cfg.cache_timeout_seconds,
        max_connections=cfg.cache_max_connections,
        password=read_secret(cfg.redis_password_file),
    )
    product_cache = cache.ProductCache(
        client,
        ttl=cfg.cache_ttl_seconds,
        probe_interval=cfg.cache_probe_seconds,
        metrics=app[CACHE_METRICS],
    )
    await product_cache.probe()  # Redis down at start: start anyway, degraded
    app[CACHE] = product_cache
    probe = asyncio.create_task(product_cache.run_probe(), name="product-cache-probe")
    yield
    await cancel_and_wait(probe)  # a one-shot cancel can be lost mid-ping (Python 3.11)
    await product_cache.close()


async def _cache_readiness(app: web.Application) -> CheckResult:
    return await app[CACHE].readiness()
