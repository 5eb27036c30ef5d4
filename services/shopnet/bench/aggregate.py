"""From runs to figures: medians over repeats, and the ratios the comparison is about."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from shopnet.bench.results import RunRecord
from shopnet.bench.wrk import Latency


@dataclass(frozen=True, slots=True)
class Summary:
    """One (mode, path, workload, connections, paced) cell, over its repeats."""

    mode: str
    path: str
    main: bool
    workload: str
    connections: int
    paced: bool
    repeats: int
    rps: float
    """Median requests/s."""
    latency: Latency
    """Median of each statistic across repeats (corrected latency for paced runs)."""
    failed: int
    """Non-2xx/3xx answers and socket errors, summed over repeats (never hidden)."""
    requests: int
    rate: float
    miss_ratio: float | None
    """Share of X-Cache: MISS answers, when the workload recorded them."""
    cpu_us: dict[str, float]
    """Median CPU µs per request by component, when the runs were profiled."""


Key = tuple[str, str, str, int, bool]


def _median_latency(latencies: list[Latency]) -> Latency:
    def med(attr: str) -> float:
        return round(statistics.median(getattr(lat, attr) for lat in latencies), 3)

    return Latency(med("mean"), med("p50"), med("p90"), med("p99"), med("max"))


def _median_components(profiles: list[dict[str, float]]) -> dict[str, float]:
    names = dict.fromkeys(name for profile in profiles for name in profile)
    return {name: round(statistics.median(p.get(name, 0.0) for p in profiles), 1) for name in names}


def summarize(runs: Iterable[RunRecord]) -> list[Summary]:
    groups: dict[Key, list[RunRecord]] = {}
    for run in runs:
        key = (run.mode, run.path, run.workload, run.connections, run.rate > 0)
        groups.setdefault(key, []).append(run)
    summaries = []
    for (mode, path, workload, connections, paced), group in groups.items():
        results = [r.result for r in group]
        latencies = [(r.corrected or r.latency) if paced else r.latency for r in results]
        hits = sum(r.cache.get("HIT", 0) for r in results)
        misses = sum(r.cache.get("MISS", 0) for r in results)
        summaries.append(
            Summary(
                mode=mode,
                path=path,
                main=group[0].main,
                workload=workload,
                connections=connections,
                paced=paced,
                repeats=len(group),
                rps=round(statistics.median(r.rps for r in results), 1),
                latency=_median_latency(latencies),
                failed=sum(r.failed for r in results),
                requests=sum(r.requests for r in results),
                rate=statistics.median(r.rate for r in group),
                miss_ratio=round(misses / (hits + misses), 3) if hits + misses else None,
                cpu_us=_median_components([r.cpu_us for r in group if r.cpu_us]),
            )
        )
    return summaries


def find(
    summaries: list[Summary],
    *,
    mode: str,
    path: str | None = None,
    workload: str = "product_hit",
    connections: int | None = None,
    paced: bool = False,
) -> Summary | None:
    for s in summaries:
        if (
            s.mode == mode
            and (s.path == path if path else s.main)
            and s.workload == workload
            and (connections is None or s.connections == connections)
            and s.paced == paced
        ):
            return s
    return None


@dataclass(frozen=True, slots=True)
class Ratio:
    name: str
    numerator: str
    denominator: str
    value: float | None
    target: float | None = None

    @property
    def met(self) -> bool | None:
        if self.value is None or self.target is None:
            return None
        return self.value >= self.target


def ratios(summaries: list[Summary], connections: int) -> list[Ratio]:
    """The comparison's ratios on the cache-hit workload at the standard connection count."""

    def rps(mode: str, path: str | None = None) -> float | None:
        s = find(summaries, mode=mode, path=path, connections=connections)
        return s.rps if s and s.rps else None

    def ratio(
        name: str,
        num: tuple[str, str | None],
        den: tuple[str, str | None],
        target: float | None = None,
    ) -> Ratio:
        a, b = rps(*num), rps(*den)
        label = lambda m, p: f"{m} {p or 'gateway'}"  # noqa: E731
        return Ratio(name, label(*num), label(*den), round(a / b, 3) if a and b else None, target)

    return [
        ratio("netns / local", ("netns", None), ("local", None), 0.95),
        ratio("docker (DNAT) / netns", ("docker", None), ("netns", None), 0.9),
        ratio("docker-proxy / docker DNAT", ("docker", "docker-proxy"), ("docker", None)),
        ratio("netns DNAT / netns direct", ("netns", None), ("netns", "gateway-direct")),
        ratio("our gateway / nginx (local)", ("local", None), ("local", "nginx"), 0.5),
        ratio("our gateway / nginx (netns)", ("netns", "gateway-direct"), ("netns", "nginx"), 0.5),
        ratio("gateway / product direct (local)", ("local", None), ("local", "product-direct")),
        ratio("gateway / product direct (netns)", ("netns", None), ("netns", "product-direct")),
        ratio("gateway / product direct (docker)", ("docker", None), ("docker", "product-direct")),
        # The wirings (`--modes netns:attached,docker:single…`); absent ones show no value.
        ratio("netns:attached / local", ("netns:attached", None), ("local", None), 0.95),
        ratio("netns:attached / netns (routed)", ("netns:attached", None), ("netns", None)),
        ratio("docker:single / docker (tiered)", ("docker:single", None), ("docker", None), 0.95),
        ratio(
            "docker:single:dns / docker:single",
            ("docker:single:dns", None),
            ("docker:single", None),
        ),
        # Across hosts (`--modes docker,swarm`): overlays and two nodes vs compose's bridges.
        ratio("swarm / docker (compose)", ("swarm", None), ("docker", None)),
    ]
