"""OrderConfig from the environment: names, defaults, and refusal of nonsense."""

from __future__ import annotations

import pytest

from shopnet.errors import ConfigError
from shopnet.order.config import OrderConfig


def test_defaults_and_environment() -> None:
    cfg = OrderConfig.from_env({})
    assert (cfg.service, cfg.port, cfg.product_service) == ("order", 3002, "product")
    cfg = OrderConfig.from_env(
        {
            "SERVICE_REGISTRY": "http://registry:8500",
            "SHOPNET_PRODUCT_SERVICE": "catalog",
            "SHOPNET_PRODUCT_TIMEOUT_SECONDS": "0.5",
            "SHOPNET_PRODUCT_ATTEMPTS": "3",
        }
    )
    assert cfg.registry_url == "http://registry:8500"
    assert (cfg.product_service, cfg.product_timeout_seconds, cfg.product_attempts) == (
        "catalog",
        0.5,
        3,
    )


@pytest.mark.parametrize(
    "environ",
    [
        {"SHOPNET_PRODUCT_ATTEMPTS": "0"},
        {"SHOPNET_PRODUCT_TIMEOUT_SECONDS": "-1"},
        {"SHOPNET_DB_TIMEOUT_SECONDS": "0"},
        {"SHOPNET_DB_POOL_MIN": "3", "SHOPNET_DB_POOL_MAX": "1"},
    ],
)
def test_nonsense_is_refused(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        OrderConfig.from_env(environ)
