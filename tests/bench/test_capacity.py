"""The capacity search: a bisection over paced rates, judged on p99, failures and pace."""

from __future__ import annotations

from shopnet.bench import capacity
from shopnet.bench.wrk import Latency, WrkResult


def _result(
    rate: float, p99_ms: float, failed: int = 0, conflicts: int = 0, kept: float = 1.0
) -> WrkResult:
    latency = Latency(p99_ms / 2, p99_ms / 2, p99_ms / 2, p99_ms, p99_ms)
    errors = {"status": failed} if failed else {}
    return WrkResult(
        requests=round(rate * kept), duration_s=1.0, latency=latency, errors=errors,
        corrected=latency, conflicts=conflicts or None,
    )  # fmt: skip


def test_bisection_finds_the_knee() -> None:
    # p99 stays at 1 ms up to 6,000 req/s, then queueing pushes it to 50 ms.
    def measure(rate: float) -> WrkResult:
        return _result(rate, 1.0 if rate <= 6000 else 50.0)

    found = capacity.search(measure, 10000, steps=6)
    assert [p.rate for p in found.probes] == [5000, 7500, 6250, 5625, 5938, 6094]
    assert [p.passed for p in found.probes] == [True, False, False, True, True, False]
    assert found.rate == 5938 and found.ceiling == 10000


def test_failures_and_a_lost_pace_fail_a_rate_but_stock_refusals_do_not() -> None:
    assert not capacity.judge(1000, _result(1000, 1.0, failed=1), 10).passed
    assert not capacity.judge(1000, _result(1000, 1.0, kept=0.9), 10).passed
    assert capacity.judge(1000, _result(1000, 1.0, failed=5, conflicts=5), 10).passed
    assert not capacity.judge(1000, _result(1000, 10.5), 10).passed


def test_nothing_passing_gives_zero() -> None:
    found = capacity.search(lambda rate: _result(rate, 99.0), 8000, steps=3)
    assert found.rate == 0 and len(found.probes) == 3
