"""Prometheus metrics: one registry per app (so tests can build many apps), served at /metrics.

Every service counts its requests and their latency by route; services add
their own collectors to the same registry (`app[METRICS].registry`), and their
per-request counters to its tallies (`app[METRICS].tallies`).

The request counter and the latency histogram are tallied (shopnet.common.tallies):
counted in plain ints on the hot path, handed to prometheus when it collects.

A service run as several worker processes sets PROMETHEUS_MULTIPROC_DIR (before
prometheus_client is imported): every process then writes its samples to files
there, and /metrics, whichever worker answers it, sums them over all workers.
Each worker writes its tallies to its files after every request it records (so
/metrics, whichever worker answers, counts every answered request at once) and
before it answers /metrics itself. One process (the default) writes no files.
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from shopnet.common.http import Handler
from shopnet.common.tallies import Count, Observations, Tallies

# Latency buckets in seconds, dense where a LAN service lives (sub-millisecond to 100 ms).
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


# Any token is a valid method; only these become label values, so a client cannot
# create one time series per made-up method.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ServiceMetrics:
    """The collectors every service has."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        self.tallies = Tallies(self.registry, multiprocess=bool(multiprocess_dir))
        self.requests = self.tallies.counter(
            "shopnet_http_requests",
            "HTTP requests served, by route, method and status.",
            ["route", "method", "status"],
        )
        self.latency = self.tallies.histogram(
            "shopnet_http_request_duration_seconds",
            "Time to serve a request, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
        )
        self._upper_bounds = self.latency.upper_bounds
        self._children: dict[tuple[str, str, int], tuple[Count, Observations]] = {}
        # With several workers, whichever one answers /metrics must already count every
        # request another worker answered: their files are written as each one is served
        # (the single-process default, where nothing else reads them, counts for free).
        self._flush_each = bool(multiprocess_dir)
        # What /metrics renders: this registry, or the sum over all workers' files.
        self.exposition = self.registry
        if multiprocess_dir:
            self.exposition = CollectorRegistry()
            MultiProcessCollector(self.exposition, path=multiprocess_dir)

    def record(self, request: web.Request, response: web.StreamResponse, started: float) -> None:
        """Count one answered request and observe its latency (`started`: perf_counter)."""
        # The route template, not the raw path: ids must not become label values.
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        method = request.method if request.method in KNOWN_METHODS else "OTHER"
        key = (route, method, response.status)
        children = self._children.get(key)
        if children is None:  # labels() costs more than the counting: look up once
            children = (
                self.requests.labels(route, method, str(response.status)),
                self.latency.labels(route),
            )
            self._children[key] = children
        count, latency = children
        count.value += 1
        # Observations.observe, inlined: this runs once per request of every service.
        elapsed = time.perf_counter() - started
        latency.counts[bisect_left(self._upper_bounds, elapsed)] += 1
        latency.sum += elapsed
        if self._flush_each:
            self.tallies.flush()

    def render(self) -> bytes:
        """The text /metrics answers; in multiprocess mode, with this process's latest counts."""
        self.tallies.flush()
        return generate_latest(self.exposition)

    def middleware(self) -> Middleware:
        """A middleware that records (shopnet.common.http.make_request_middleware records
        too, in the same layer as request ids and errors)."""
        record = self.record

        @web.middleware
        async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
            started = time.perf_counter()
            response = await handler(request)
            record(request, response, started)
            return response

        return observe


METRICS = web.AppKey("metrics", ServiceMetrics)


async def metrics_handler(request: web.Request) -> web.Response:
    return metrics_response(request.app)


def metrics_response(app: web.Application) -> web.Response:
    """/metrics of `app` (an admin listener answers it for the app it belongs to)."""
    body = app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
