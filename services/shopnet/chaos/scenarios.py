"""The fault scenarios `shopnet chaos` knows, each a fault and the load it runs under."""

from __future__ import annotations

import signal
from dataclasses import dataclass

from shopnet.errors import ConfigError
from shopnet.hostnet.ratelimit import Rate


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    what: str
    order_share: float
    """Share of the load that places orders (the rest reads products)."""
    instance: str | None = None
    """Whose main process gets `signal` (the supervisor or Docker starts it again)."""
    signal: signal.Signals = signal.SIGKILL
    tier: str | None = None
    """Whose links get `loss_pct` or `rate` for the fault's duration, then are cleared."""
    loss_pct: float = 0.0
    rate: str | None = None

    @property
    def lasts(self) -> bool:
        """A netem fault lasts until we lift it; a signal is over once sent."""
        return self.tier is not None

    def parsed_rate(self) -> Rate | None:
        return Rate.parse(self.rate) if self.rate else None


SCENARIOS = (
    Scenario("kill-product", "kill -9 product-1", 0.25, instance="product-1"),
    Scenario("kill-registry", "kill -9 registry-1", 0.25, instance="registry-1"),
    Scenario("kill-redis", "kill -9 redis-1", 0.25, instance="redis-1"),
    Scenario("kill-postgres", "kill -9 postgres-1 under order load", 1.0, instance="postgres-1"),
    Scenario(
        "stop-order",
        "SIGTERM to order-1 (a graceful stop)",
        1.0,
        instance="order-1",
        signal=signal.SIGTERM,
    ),
    Scenario("loss", "10% packet loss on the backend tier", 0.25, tier="backend", loss_pct=10),
    Scenario("rate", "200 kbit/s on the backend tier", 0.25, tier="backend", rate="200kbit"),
)
BY_NAME = {s.name: s for s in SCENARIOS}


def choose(names: str | None) -> tuple[Scenario, ...]:
    """`a,b` → those scenarios, in the order given; None → all."""
    if not names:
        return SCENARIOS
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in BY_NAME]
    if unknown or not chosen:
        raise ConfigError(
            f"--scenarios {names!r}: choose from {', '.join(BY_NAME)} (comma-separated)"
        )
    return tuple(BY_NAME[n] for n in chosen)
