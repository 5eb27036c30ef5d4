"""Typed application state of the order service."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from shopnet.order.catalog import ProductCatalog
from shopnet.order.config import OrderConfig
from shopnet.order.db import OrderStore

ORDER_CONFIG = web.AppKey("order_config", OrderConfig)
POOL = web.AppKey("order_pool", asyncpg.Pool)
STORE = web.AppKey("order_store", OrderStore)
CATALOG = web.AppKey("order_catalog", ProductCatalog)
