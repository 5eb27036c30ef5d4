"""The warnings that say a figure may measure something else than the stack."""

from __future__ import annotations

from shopnet.bench import noise
from shopnet.bench.aggregate import Summary
from shopnet.bench.wrk import Latency


def test_a_busy_machine_warns_and_a_quiet_one_does_not() -> None:
    assert noise.busy_warning({"loadavg_1m": 0.3, "busy_share": 0.05, "cores": 2}) is None
    # A trailing load average from a run that just ended, on an idle machine: no warning.
    assert noise.busy_warning({"loadavg_1m": 1.2, "busy_share": 0.0, "cores": 2}) is None
    warning = noise.busy_warning({"loadavg_1m": 0.4, "busy_share": 0.6, "cores": 2})
    assert warning is not None and "60% of CPU busy" in warning
    assert noise.busy_warning({"loadavg_1m": 2.5, "busy_share": 0.1, "cores": 2})
    assert noise.load_before(0.05)["cores"] >= 1


def _summary(rps: float, wrk_us: float) -> Summary:
    lat = Latency(1, 1, 1, 1, 1)
    return Summary("local", "gateway", True, "product_hit", 64, False, 2, rps, lat, 0, None,
                   int(rps), 0.0, None, {"wrk": wrk_us})  # fmt: skip


def test_a_saturated_wrk_is_named() -> None:
    # 30,000 req/s at 30 µs of wrk CPU each is 90 % of a core: the figure is wrk's ceiling.
    (warning,) = noise.wrk_warnings([_summary(30000, 30.0), _summary(10000, 30.0)])
    assert "wrk used 90% of a core on local gateway" in warning
