"""Tallied metrics: plain ints on the hot path, the same exposition as prometheus_client's own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from shopnet.common.app import create_base_app
from shopnet.common.config import ServiceConfig
from shopnet.common.metrics import LATENCY_BUCKETS, ServiceMetrics

CREATED_VALUE = re.compile(r"^(\w+_created(?:\{.*\})?) [0-9.e+]+$", re.MULTILINE)


class Cfg(ServiceConfig):
    service = "test"
    default_port = 1


def text_of(registry: CollectorRegistry) -> str:
    """The exposition with the `_created` timestamps (wall clock) replaced by T."""
    return CREATED_VALUE.sub(r"\1 T", generate_latest(registry).decode())


def feed(requests: Any, latency: Any, hits: Any) -> None:
    """The same records, for tallied and for prometheus_client metrics alike."""
    requests.labels("/a", "GET", "200").inc()
    requests.labels("/a", "GET", "200").inc()
    requests.labels("/b/{id}", "POST", "201").inc()
    latency.labels("/a").observe(0.0005)  # on a bound: that bucket, as prometheus does
    latency.labels("/a").observe(0.003)
    latency.labels("/b/{id}").observe(20.0)  # above every bound: only +Inf
    hits.labels("hit").inc(3)
    hits.labels("miss")


def tallied_registry() -> CollectorRegistry:
    metrics = ServiceMetrics("test")
    hits = metrics.tallies.counter("shopnet_test_lookups", "Lookups by result.", ["result"])
    feed(metrics.requests, metrics.latency, hits)
    return metrics.registry


def test_the_exposition_is_exactly_prometheus_clients() -> None:
    reference = CollectorRegistry(auto_describe=True)
    requests = Counter(
        "shopnet_http_requests",
        "HTTP requests served, by route, method and status.",
        ["route", "method", "status"],
        registry=reference,
    )
    latency = Histogram(
        "shopnet_http_request_duration_seconds",
        "Time to serve a request, by route.",
        ["route"],
        buckets=LATENCY_BUCKETS,
        registry=reference,
    )
    hits = Counter("shopnet_test_lookups", "Lookups by result.", ["result"], registry=reference)
    feed(requests, latency, hits)
    assert text_of(tallied_registry()) == text_of(reference)


def test_the_exposition_text_of_a_few_records() -> None:
    text = text_of(tallied_registry())
    assert (
        textwrap.dedent("""\
        # HELP shopnet_http_requests_total HTTP requests served, by route, method and status.
        # TYPE shopnet_http_requests_total counter
        shopnet_http_requests_total{method="GET",route="/a",status="200"} 2.0
        shopnet_http_requests_total{method="POST",route="/b/{id}",status="201"} 1.0
        # HELP shopnet_http_requests_created HTTP requests served, by route, method and status.
        # TYPE shopnet_http_requests_created gauge
        shopnet_http_requests_created{method="GET",route="/a",status="200"} T
        shopnet_http_requests_created{method="POST",route="/b/{id}",status="201"} T
        """)
        in text
    )
    buckets = {
        le: value
        for le, value in re.findall(
            r'shopnet_http_request_duration_seconds_bucket\{le="([^"]+)",route="/a"\} (\S+)', text
        )
    }
    # Cumulative: 0.0005 counts in its own bucket, 0.003 from le=0.005 up.
    assert buckets["0.0005"] == "1.0" and buckets["0.001"] == "1.0" and buckets["0.0025"] == "1.0"
    assert buckets["0.005"] == "2.0" and buckets["10.0"] == "2.0" and buckets["+Inf"] == "2.0"
    assert list(buckets) == [*map(str, LATENCY_BUCKETS), "+Inf"]
    assert 'shopnet_http_request_duration_seconds_count{route="/a"} 2.0' in text
    assert 'shopnet_http_request_duration_seconds_sum{route="/a"} 0.0035' in text
    assert 'shopnet_http_request_duration_seconds_bucket{le="10.0",route="/b/{id}"} 0.0' in text
    assert 'shopnet_http_request_duration_seconds_bucket{le="+Inf",route="/b/{id}"} 1.0' in text
    assert 'shopnet_test_lookups_total{result="hit"} 3.0' in text
    assert 'shopnet_test_lookups_total{result="miss"} 0.0' in text


def test_a_name_taken_twice_is_refused() -> None:
    metrics = ServiceMetrics("test")
    try:
        metrics.tallies.counter("shopnet_http_requests", "again", ["route"])
    except ValueError as exc:
        assert "Duplicated timeseries" in str(exc)
    else:
        raise AssertionError("a second shopnet_http_requests was registered")


async def test_answers_are_recorded_and_served(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_base_app(Cfg.from_env({})))
    for _ in range(2):
        assert (await client.get("/health")).status == 200
    assert (await client.post("/health")).status == 405
    text = await (await client.get("/metrics")).text()
    assert 'shopnet_http_requests_total{method="GET",route="/health",status="200"} 2.0' in text
    assert 'shopnet_http_requests_total{method="POST",route="unmatched",status="405"} 1.0' in text
    assert 'shopnet_http_request_duration_seconds_count{route="/health"} 2.0' in text
    assert 'shopnet_http_request_duration_seconds_bucket{le="+Inf",route="/health"} 2.0' in text
    counts = [
        float(value)
        for value in re.findall(
            r'shopnet_http_request_duration_seconds_bucket\{le="[^"]+",route="/health"\} (\S+)',
            text,
        )
    ]
    assert counts == sorted(counts) and len(counts) == len(LATENCY_BUCKETS) + 1


# One worker process in multiprocess mode: counts, checks that nothing reached the files
# before a flush, flushes twice (the second adds only what is new); then, as a served app,
# answers requests and /metrics (which shows them: flushed first) and stops (flushes again).
WORKER = """
import asyncio, sys
import aiohttp
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from shopnet.common.app import create_base_app
from shopnet.common.config import ServiceConfig
from shopnet.common.metrics import METRICS

class Cfg(ServiceConfig):
    service = "test"
    default_port = 1

def files_text():
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return generate_latest(registry).decode()

async def main(count):
    app = create_base_app(Cfg.from_env({}))
    metrics = app[METRICS]
    before = files_text()
    requests = metrics.requests.labels("/a", "GET", "200")
    for _ in range(count):
        requests.inc()
        metrics.latency.labels("/a").observe(0.003)
    assert files_text() == before  # counted, not flushed yet
    metrics.tallies.flush()
    requests.inc()
    metrics.tallies.flush()
    metrics.tallies.flush()
    server = TestServer(app)
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            async with session.get(server.make_url("/health")) as resp:
                assert resp.status == 200
        async with session.get(server.make_url("/metrics")) as resp:
            text = await resp.text()
    line = 'shopnet_http_requests_total{method="GET",route="/health",status="200"} '
    assert line in text, text
    await server.close()

asyncio.run(main(int(sys.argv[1])))
"""


def run_worker(directory: Path, count: int) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    subprocess.run([sys.executable, "-c", WORKER, str(count)], env=env, check=True, timeout=60)


def test_multiprocess_flushes_are_summed_over_processes(tmp_path: Path) -> None:
    run_worker(tmp_path, 3)
    run_worker(tmp_path, 5)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(tmp_path))
    text = generate_latest(registry).decode()
    # 3 + 1 and 5 + 1 tallied by hand, each flushed once however often flush() ran.
    assert 'shopnet_http_requests_total{method="GET",route="/a",status="200"} 10.0' in text
    assert 'shopnet_http_request_duration_seconds_count{route="/a"} 8.0' in text
    assert 'shopnet_http_request_duration_seconds_bucket{le="0.0025",route="/a"} 0.0' in text
    assert 'shopnet_http_request_duration_seconds_bucket{le="0.005",route="/a"} 8.0' in text
    total = re.search(r'shopnet_http_request_duration_seconds_sum\{route="/a"\} (\S+)', text)
    assert total is not None and float(total[1]) == pytest.approx(8 * 0.003)
    # Served requests: each one's record flushed it, the last /metrics included.
    assert 'shopnet_http_requests_total{method="GET",route="/health",status="200"} 8.0' in text
    assert 'shopnet_http_requests_total{method="GET",route="/metrics",status="200"} 2.0' in text
