"""Scraping the services' Prometheus /metrics, and the samples as plain numbers.

`metrics_url` is the one place that knows where an instance serves its metrics:
when they move to an admin listener, only it changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class Scraped:
    samples: Scrape | None
    """None when the instance did not answer in time (or not with metrics)."""
    refused: bool = False
    """Nothing listens there: the instance is down, whatever the last status said."""


async def scrape(session: aiohttp.ClientSession, address: str, *, timeout: float) -> Scraped:
    try:
        async with session.get(
            metrics_url(address), timeout=aiohttp.ClientTimeout(total=timeout)
        ) as resp:
            if resp.status != 200:
                return Scraped(None)
            return Scraped(parse(await resp.text()))
    except aiohttp.ClientConnectorError as exc:
        return Scraped(None, refused=isinstance(exc.os_error, ConnectionRefusedError))
    except (TimeoutError, aiohttp.ClientError, ValueError):
        return Scraped(None)


def total(
    scrape: Scrape | None, name: str, match: Callable[[Mapping[str, str]], bool] = lambda _: True
) -> float:
    """Sum of the samples called `name` whose labels satisfy `match`."""
    if not scrape:
        return 0.0
    return sum(v for (n, labels), v in scrape.items() if n == name and match(dict(labels)))
