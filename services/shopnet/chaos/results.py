"""What one scenario measured, as reports and charts read it (and JSON keeps it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from shopnet.chaos import measure

if TYPE_CHECKING:
    from shopnet.chaos.load import LoadResult
    from shopnet.chaos.runner import ChaosOptions
    from shopnet.chaos.scenarios import Scenario
    from shopnet.chaos.verify import OrderCheck


EXPECTED_ANSWERS = ("404", "409", "422")


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    mode: str
    scenario: str
    what: str
    injected: str
    seconds: float
    fault_at: float
    lifted_at: float
    requests: int
    failed: int
    failed_pct: float
    first_success_s: float | None
    baseline_rps: float
    back_within_10pct_s: float | None
    healthy_after_s: float
    """After the load ended: until `status` showed every instance ready again."""
    orders_tried: int
    orders_acked: int
    orders_stored: int
    orders_lost: int
    orders_duplicated: int
    statuses: dict[str, int]
    timeline: dict[str, list[float]]
    """`t`, `ok`, `failed`: per-bucket rates for the chart."""
    products: int = 0
    """Product instances the stack ran."""

    @property
    def expected(self) -> dict[str, int]:
        """The workload's expected refusals among the answers: 404 (a deleted product),
        409 (no stock left), 422 (an unknown product) — answered, by a healthy stack."""
        return {code: self.statuses[code] for code in EXPECTED_ANSWERS if self.statuses.get(code)}

    @property
    def fault_failed(self) -> int:
        """Failures the fault caused: 5xx, resets and refused connections, timeouts, bad
        answers — and any other unexpected status (counted here, never hidden)."""
        return sum(
            count
            for label, count in self.statuses.items()
            if label not in EXPECTED_ANSWERS and not label.startswith("2")
        )

    @property
    def fault_failed_pct(self) -> float:
        return 100.0 * self.fault_failed / self.requests if self.requests else 0.0

    @property
    def holds(self) -> bool:
        """No acknowledged order lost, none duplicated."""
        return self.orders_lost == 0 and self.orders_duplicated == 0

    @classmethod
    def make(
        cls,
        mode: str,
        scenario: Scenario,
        injected: str,
        options: ChaosOptions,
        window: tuple[float, float],
        load: LoadResult,
        recovery: measure.Recovery,
        orders: OrderCheck,
        *,
        healthy_after_s: float,
        bucket_s: float,
        products: int,
    ) -> ScenarioResult:
        t, ok, bad = measure.timeline(load.samples, options.seconds, bucket_s)
        return cls(
            mode=mode, scenario=scenario.name, what=scenario.what, injected=injected,
            seconds=options.seconds, fault_at=window[0], lifted_at=window[1],
            requests=recovery.requests, failed=recovery.failed, failed_pct=recovery.failed_pct,
            first_success_s=recovery.first_success_s, baseline_rps=recovery.baseline_rps,
            back_within_10pct_s=recovery.back_within_10pct_s, healthy_after_s=healthy_after_s,
            orders_tried=orders.keys, orders_acked=orders.acked, orders_stored=orders.stored,
            orders_lost=orders.lost, orders_duplicated=orders.duplicates,
            statuses=dict(sorted(load.statuses.items())),
            timeline={"t": t, "ok": ok, "failed": bad}, products=products,
        )  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScenarioResult:
        return cls(**data)
