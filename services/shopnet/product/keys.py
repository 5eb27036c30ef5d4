"""Typed application state of the product service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import asyncpg
from aiohttp import web

from shopnet.product.cache import CacheMetrics, ProductCache
from shopnet.product.config import ProductConfig
from shopnet.product.db import ProductStore
from shopnet.product.reservations import ReservationStore
from shopnet.product.singleflight import SingleFlight


@dataclass(frozen=True, slots=True)
class Flights:
    """In-flight database loads, shared by the requests that missed the cache together."""

    products: SingleFlight[int, bytes | None] = field(default_factory=SingleFlight)
    """By product id."""
    lists: SingleFlight[str, bytes] = field(default_factory=SingleFlight)
    """By canonical list query."""


PRODUCT_CONFIG = web.AppKey("product_config", ProductConfig)
POOL = web.AppKey("product_pool", asyncpg.Pool)
STORE = web.AppKey("product_store", ProductStore)
CACHE = web.AppKey("product_cache", ProductCache)
CACHE_METRICS = web.AppKey("product_cache_metrics", CacheMetrics)
FLIGHTS = web.AppKey("product_flights", Flights)
RESERVATIONS = web.AppKey("product_reservations", ReservationStore)
INTERNAL_CALLERS: web.AppKey[Mapping[bytes, str] | None] = web.AppKey("product_internal_callers")
