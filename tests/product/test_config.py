"""ProductConfig from the environment: names, defaults, and refusal of nonsense."""

from __future__ import annotations

import pytest

from shopnet.errors import ConfigError
from shopnet.product.config import ProductConfig


def test_defaults() -> None:
    cfg = ProductConfig.from_env({})
    assert (cfg.service, cfg.port) == ("product", 3001)
    assert cfg.seed_products == 1000
    assert cfg.database_url.startswith("postgresql://")
    assert cfg.redis_url.startswith("redis://")


def test_environment_is_read() -> None:
    cfg = ProductConfig.from_env(
        {
            "DATABASE_URL": "postgresql://u:p@db:5432/shop",
            "REDIS_URL": "redis://cache:6379/1",
            "SHOPNET_SEED_PRODUCTS": "0",
            "SHOPNET_CACHE_TTL_SECONDS": "60",
            "SHOPNET_DB_POOL_MAX": "4",
            "SHOPNET_DB_POOL_MIN": "1",
        }
    )
    assert cfg.database_url == "postgresql://u:p@db:5432/shop"
    assert cfg.redis_url == "redis://cache:6379/1"
    assert (cfg.seed_products, cfg.cache_ttl_seconds) == (0, 60)
    assert (cfg.db_pool_min, cfg.db_pool_max) == (1, 4)


@pytest.mark.parametrize(
    "environ",
    [
        {"SHOPNET_SEED_PRODUCTS": "-1"},
        {"SHOPNET_SEED_PRODUCTS": "many"},
        {"SHOPNET_CACHE_TTL_SECONDS": "0"},
        {"SHOPNET_CACHE_TIMEOUT_SECONDS": "0"},
        {"SHOPNET_DB_POOL_MIN": "5", "SHOPNET_DB_POOL_MAX": "2"},
        {"SHOPNET_CACHE_MAX_CONNECTIONS": "0"},
    ],
)
def test_nonsense_is_refused(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        ProductConfig.from_env(environ)
