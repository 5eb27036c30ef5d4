"""Product service fixtures: the app on the session's PostgreSQL (a fresh database) and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from shopnet.product.app import create_app
from shopnet.product.config import ProductConfig
from tests.support.serving import ServedAsDeployed
from tests.support.teardown import close_within

MakeConfig = Callable[..., ProductConfig]


@pytest.fixture
def product_config(database_url: str, redis_url: str) -> MakeConfig:
    """Build a config for this test's database and Redis; no seed unless asked."""

    def make(**overrides: Any) -> ProductConfig:
        settings: dict[str, Any] = {
            "database_url": database_url,
            "redis_url": redis_url,
            "seed_products": 0,
            "register": False,
            "cache_probe_seconds": 0.05,
            # Generous: a loaded CI machine must not open the breaker by accident.
            "cache_timeout_seconds": 1.0,
        }
        settings.update(overrides)
        return ProductConfig.from_env({}, **settings)

    return make


@pytest.fixture
async def products(product_config: MakeConfig, aiohttp_client) -> AsyncIterator[TestClient]:
    client = await aiohttp_client(ServedAsDeployed(create_app(product_config())))
    yield client
    await close_within(client, "the product app")  # and its pool, before the database goes


@pytest.fixture
async def seeded(product_config: MakeConfig, aiohttp_client) -> AsyncIterator[TestClient]:
    """The app with a 45-product seed catalog."""
    client = await aiohttp_client(ServedAsDeployed(create_app(product_config(seed_products=45))))
    yield client
    await close_within(client, "the product app")  # and its pool, before the database goes
