"""The order service app: routes, the PostgreSQL pool (migrations) and the product catalog."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from shopnet.common.app import create_base_app
from shopnet.common.health import CheckResult
from shopnet.common.pg import connect_pool, migrate, pool_readiness
from shopnet.order import handlers
from shopnet.order.catalog import ProductCatalog
from shopnet.order.config import OrderConfig
from shopnet.order.db import OrderStore
from shopnet.order.keys import CATALOG, ORDER_CONFIG, POOL, STORE

__all__ = ["OrderConfig", "create_app"]


def create_app(cfg: OrderConfig) -> web.Application:
    app = create_base_app(
        cfg, readiness={"postgres": pool_readiness(POOL), "product": _catalog_readiness}
    )
    app[ORDER_CONFIG] = cfg
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_catalog)
    r = app.router
    r.add_post("/orders", handlers.create_order)
    r.add_get("/orders", handlers.list_orders)
    r.add_get("/orders/{id}", handlers.get_order)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    cfg = app[ORDER_CONFIG]
    pool = await connect_pool(
        cfg.database_url,
        min_size=cfg.db_pool_min,
        max_size=cfg.db_pool_max,
        wait_seconds=cfg.db_wait_seconds,
        command_timeout=cfg.db_timeout_seconds,
    )
    try:
        await migrate(pool, schema="orders", package="shopnet.order")
    except BaseException:
        pool.terminate()  # aiohttp runs no cleanup for a context whose start failed
        raise
    app[POOL] = pool
    app[STORE] = OrderStore(pool, acquire_timeout=cfg.db_timeout_seconds)
    yield
    try:
        async with asyncio.timeout(cfg.drain_seconds):
            await pool.close()
    except TimeoutError:
        pool.terminate()  # a database that stopped answering must not hang shutdown


async def _catalog(app: web.Application) -> AsyncIterator[None]:
    cfg = app[ORDER_CONFIG]
    # One session for the registry watch and the product calls (keep-alive to each instance).
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200))
    catalog = ProductCatalog(
        session,
        registry_url=cfg.registry_url,
        service=cfg.product_service,
        timeout=cfg.product_timeout_seconds,
        attempts=cfg.product_attempts,
        watch_wait=cfg.discovery_wait_seconds,
    )
    catalog.start()
    app[CATALOG] = catalog
    yield
    await catalog.stop()
    await session.close()


async def _catalog_readiness(app: web.Application) -> CheckResult:
    return await app[CATALOG].readiness()
