"""Request rates and latency per allowed flow, from two scrapes of every instance.

The services count what they *serve* (by route), not who asked, so each flow is
attributed from its target's side by the routes only that caller uses:

    world → gateway        the gateway's requests
    gateway → order        the order service's requests
    order → product        one price lookup per created order (POST /orders)
    gateway → product      the product service's requests, less order's lookups
    * → registry           the registry's requests, shared out by the callers'
                           instance counts (every instance registers, heartbeats
                           and watches alike); long-poll watches are left out of
                           the latency, which would otherwise read as ~30 s
    product → redis        the product service's cache lookups
    product → postgres     its cache misses and writes (what reaches PostgreSQL)
    order → postgres       the order service's requests

A flow of another topology gets its target's requests when it is the target's
only caller, and no figure otherwise. Latency is the mean over the interval.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from shopnet.dashboard.metrics import Scrape, total
from shopnet.topology.model import WORLD, Kind, Topology

REQUESTS = "shopnet_http_requests_total"
LATENCY_SUM = "shopnet_http_request_duration_seconds_sum"
LATENCY_COUNT = "shopnet_http_request_duration_seconds_count"
CACHE = "shopnet_cache_requests_total"
INTERNAL = frozenset({"/health", "/ready", "/metrics"})
WATCH = "/v1/services/{service}"


@dataclass(frozen=True, slots=True)
class FlowTraffic:
    rate: float
    """Requests (or lookups) per second."""
    latency_ms: float | None
    """Mean time to serve one, when the target measures it."""


def served(labels: Mapping[str, str]) -> bool:
    return labels.get("route") not in INTERNAL


@dataclass(frozen=True, slots=True)
class Interval:
    """Two scrapes of every instance, `seconds` apart, grouped by service."""

    before: dict[str, list[Scrape | None]]
    after: dict[str, list[Scrape | None]]
    seconds: float

    def rate(self, service: str, name: str, match: Callable[[Mapping[str, str]], bool]) -> float:
        delta = 0.0
        for old, new in zip(
            self.before.get(service, []), self.after.get(service, []), strict=False
        ):
            if old is None or new is None:  # no baseline (or no answer): no figure
                continue
            grown = total(new, name, match) - total(old, name, match)
            # A restarted instance starts again from zero: count what it did since.
            delta += grown if grown >= 0 else total(new, name, match)
        return delta / self.seconds if self.seconds > 0 else 0.0

    def latency_ms(self, service: str, match: Callable[[Mapping[str, str]], bool]) -> float | None:
        count = self.rate(service, LATENCY_COUNT, match)
        if count <= 0:
            return None
        return 1000 * self.rate(service, LATENCY_SUM, match) / count


def flows(
    topology: Topology, interval: Interval, instances: dict[str, int]
) -> dict[str, FlowTraffic]:
    """Edge id (`source->target`) → its traffic; `instances`: running count per service."""
    result: dict[str, FlowTraffic] = {}
    callers: dict[str, list[str]] = {}
    for flow in topology.flows:
        callers.setdefault(flow.target, []).append(flow.source)
    for flow in topology.flows:
        traffic = _flow(topology, interval, flow.source, flow.target, callers, instances)
        if traffic is not None:
            result[f"{flow.source}->{flow.target}"] = traffic
    return result


def _flow(
    topology: Topology,
    iv: Interval,
    source: str,
    target: str,
    callers: dict[str, list[str]],
    instances: dict[str, int],
) -> FlowTraffic | None:
    def route(prefix: str) -> Callable[[Mapping[str, str]], bool]:
        return lambda labels: labels.get("route", "").startswith(prefix)

    if target == "registry":
        weights = {c: instances.get(c, 0) for c in callers[target] if c != WORLD}
        share = weights.get(source, 0) / (sum(weights.values()) or 1)

        def timed(labels: Mapping[str, str]) -> bool:
            return served(labels) and labels.get("route") != WATCH

        return FlowTraffic(iv.rate(target, REQUESTS, served) * share, iv.latency_ms(target, timed))
    if (source, target) == ("order", "product"):
        lookups = iv.rate(
            "order", REQUESTS, lambda la: la.get("method") == "POST" and route("/orders")(la)
        )
        return FlowTraffic(lookups, iv.latency_ms("product", route("/products")))
    if (source, target) == ("gateway", "product") and "order" in callers[target]:
        order_flow = _flow(topology, iv, "order", "product", callers, instances)
        rate = iv.rate(target, REQUESTS, served) - (order_flow.rate if order_flow else 0.0)
        return FlowTraffic(max(rate, 0.0), iv.latency_ms(target, served))
    if (source, target) == ("product", "redis"):
        return FlowTraffic(iv.rate(source, CACHE, lambda _: True), None)
    if (source, target) == ("product", "postgres"):
        misses = iv.rate(source, CACHE, lambda la: la.get("result") in {"miss", "error", "bypass"})
        writes = iv.rate(source, REQUESTS, lambda la: served(la) and la.get("method") != "GET")
        return FlowTraffic(misses + writes, None)
    if topology.service(target).kind is Kind.DATASTORE:
        if len(callers[target]) == 1 or source == "order":
            return FlowTraffic(iv.rate(source, REQUESTS, served), None)
        return None
    if len(callers[target]) == 1 or (source, target) == ("gateway", "order"):
        return FlowTraffic(iv.rate(target, REQUESTS, served), iv.latency_ms(target, served))
    return None
