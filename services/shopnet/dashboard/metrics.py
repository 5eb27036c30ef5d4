"""Scraping the services' Prometheus /metrics, and the samples as plain numbers.

`metrics_url` is the one place that knows where an instance serves its metrics:
when they move to an admin listener, only it changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]
Scrape = dict[tuple[str, Labels], float]
"""(sample name, sorted labels) → value, e.g. ("shopnet_http_requests_total", (("method", "GET"), …))."""


def metrics_url(address: str) -> str:
    """Where the instance at `address` ("host:port") serves its Prometheus metrics."""
    return f"http://{address}/metrics"


def parse(text: str) -> Scrape:
    samples: Scrape = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


async def scrape(session: aiohttp.ClientSession, address: str, *, timeout: float) -> Scrape | None:
    """The instance's samples, or None when it does not answer in time."""
    try:
        async with session.get(
            metrics_url(address), timeout=aiohttp.ClientTimeout(total=timeout)
        ) as resp:
            if resp.status != 200:
                return None
            return parse(await resp.text())
    except (TimeoutError, aiohttp.ClientError, ValueError):
        return None


def total(
    scrape: Scrape | None, name: str, match: Callable[[Mapping[str, str]], bool] = lambda _: True
) -> float:
    """Sum of the samples called `name` whose labels satisfy `match`."""
    if not scrape:
        return 0.0
    return sum(v for (n, labels), v in scrape.items() if n == name and match(dict(labels)))
