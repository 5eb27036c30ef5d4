"""`shopnet bench --quick --modes local` for real: a few seconds of load on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shopnet.bench.wrk import WORKLOADS
from tests.support.servers import scratch_dir
from tests.support.stack import leftovers, require_default_resources, shopnet

pytestmark = pytest.mark.slow


def test_quick_bench_writes_json_markdown_and_charts(tmp_path: Path) -> None:
    require_default_resources(
        "local"
    )  # the bench's stacks have their own prefix, not their own port
    root = scratch_dir("shopnet-bench-")
    out = tmp_path / "results"
    try:
        result = shopnet(
            root, "bench", "--quick", "--modes", "local", "--output", str(out), timeout=600
        )
    finally:
        shopnet(root, "down", "--volumes", check=False)
    assert result.stdout.strip().endswith("report.md")
    data = json.loads((out / "results.json").read_text())
    assert {r["workload"] for r in data["runs"]} == {*WORKLOADS, "order_limited"}
    limited = [r for r in data["runs"] if r["workload"] == "order_limited"]
    assert len(limited) == 2  # --quick: two interleaved repeats, the fewest with an interval
    assert all(r["stock"]["holds"] and r["stock"]["placed"] > 0 for r in limited)
    assert all(r["result"]["requests"] > 0 for r in data["runs"])
    assert data["meta"]["machine"]["cores"] and data["meta"]["finished"]
    assert any(r["rate"] > 0 and "corrected_latency_ms" in r["result"] for r in data["runs"])
    profiled = [r for r in data["runs"] if "cpu_us_per_request" in r]
    assert profiled, "the headline run says where its CPU went"
    components = profiled[0]["cpu_us_per_request"]
    assert components["gateway"] > 0 and components["product"] > 0 and components["wrk"] > 0
    assert components["total"] >= components["gateway"] + components["product"]
    report = (out / "report.md").read_text()
    for workload in (
        "cache hit",
        "cache miss path",
        "GET /api/products?page",
        "POST /api/orders",
        "Mix",
    ):
        assert workload in report
    assert "Where the CPU goes" in report
    for png in ("throughput.png", "latency_vs_connections.png"):
        assert (out / "charts" / png).read_bytes()[:4] == b"\x89PNG"
    assert "[repeat 1/2] local" in result.stderr  # progress while it runs
    assert "[repeat 2/2] local" in result.stderr
    assert "req/s at p99 ≤ 10 ms" in result.stderr  # the capacity search, on its way
    assert "What each wiring carries at p99 ≤ 10 ms" in report
    assert "coefficient of variation" in report
    assert leftovers(root, "local") == {"records": [], "tagged": [], "state": False}
