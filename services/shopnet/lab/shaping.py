"""A rate limit on a tier's links, in any mode that shapes them (TierShaping: netns, docker).

The tbf root qdiscs carry `shopnet netem`'s handle (shopnet.hostnet.links.HANDLE), so
`shopnet netem TIER --clear` and `down` know them as ours.
"""

from __future__ import annotations

from shopnet.errors import DriverError
from shopnet.runtime.base import Driver
from shopnet.runtime.capabilities import TierShaping


def _shaping(driver: Driver) -> TierShaping:
    if not isinstance(driver, TierShaping):
        raise DriverError(f"{driver.mode} mode cannot shape a tier's links")
    return driver


def limit_rate(driver: Driver, tier: str, rate: str) -> None:
    from shopnet.hostnet.ratelimit import Rate

    _shaping(driver).netem(tier, delay_ms=0.0, loss_pct=0.0, clear=False, rate=Rate.parse(rate))


def clear_rate(driver: Driver, tier: str) -> None:
    _shaping(driver).netem(tier, delay_ms=0.0, loss_pct=0.0, clear=True)
