"""The report's "Across hosts" section, from summaries of a netns and a netns:hosts2 run."""

from __future__ import annotations

from shopnet.bench.acrosshosts import counterpart, section
from shopnet.bench.aggregate import Summary
from shopnet.bench.wrk import Latency


def summary(mode: str, rps: float, p50: float, cpu: dict[str, float]) -> Summary:
    return Summary(
        mode=mode, path="gateway", main=True, workload="product_hit", connections=64,
        paced=False, repeats=2, rps=rps, latency=Latency(p50, p50, p50, 2 * p50, 3 * p50),
        failed=0, conflicts=None, requests=1000, rate=0.0, miss_ratio=None, cpu_us=cpu,
    )  # fmt: skip


def test_counterpart_is_the_single_host_run() -> None:
    assert counterpart("netns:routed:hosts2") == "netns"
    assert counterpart("netns:hosts3") == "netns"
    assert counterpart("netns") is None and counterpart("netns:attached") is None


def test_section_reports_the_encapsulation_cost() -> None:
    one = summary("netns", 8000, 7.0, {"kernel softirq": 40.0, "gateway": 60.0, "total": 200.0})
    many = summary(
        "netns:routed:hosts2", 6000, 9.5, {"kernel softirq": 70.0, "gateway": 61.0, "total": 250.0}
    )
    text = "\n".join(section([one, many], 64))
    assert text.startswith("## Across hosts (VXLAN)")
    assert "| netns | 8,000 | 7.00 | 14.00 | 200 | 40 |" in text
    assert "| netns:routed:hosts2 | 6,000 | 9.50 | 19.00 | 250 | 70 |" in text
    assert (
        "throughput 0.75× (-25%), p50 +2.5 ms, CPU per request +50 µs "
        "(kernel softirq +30 µs, gateway +1 µs)." in text
    )
    assert section([one], 64) == []
