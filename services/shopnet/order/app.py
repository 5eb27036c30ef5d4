"""The order service app: routes, the PostgreSQL pool (migrations) and the product catalog."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from shopnet.common.app import create_base_app
from shopnet.common.background import cancel_and_wait
from shopnet.common.health import CheckResult
from shopnet.common.internal import read_token
from shopnet.common.pg import close_pool, open_database, pool_readiness
from shopnet.order import handlers, placing
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
    app.cleanup_ctx.append(_recovery)
    r = app.router
    r.add_post("/orders", handlers.create_order)
    r.add_get("/orders", handlers.list_orders)
    r.add_get("/orders/{id}", handlers.get_order)
    r.add_post("/orders/{id}/cancel", handlers.cancel_order)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    cfg = app[ORDER_CONFIG]
    pool = await open_database(cfg, schema="orders", package="shopnet.order")
    app[POOL] = pool
    app[STORE] = OrderStore(pool, acquire_timeout=cfg.db_timeout_seconds)
    yield
    await close_pool(pool, timeout=cfg.drain_seconds / 4)  # inside the drain budget


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
        token=read_token(cfg.internal_token_file),
    )
    catalog.start()
    app[CATALOG] = catalog
    yield
    await catalog.stop()
    await session.close()


async def _recovery(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(placing.recover(app), name="order-stock-recovery")
    yield
    await cancel_and_wait(task)


async def _catalog_readiness(app: web.Application) -> CheckResult:
    return await app[CATALOG].readiness()
