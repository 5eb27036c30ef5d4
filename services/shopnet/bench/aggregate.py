"""From runs to figures: medians over repeats, and the ratios the comparison is about."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from shopnet.bench.results import RunRecord
from shopnet.bench.stats import (
    Interval,
    Verdict,
    coefficient_of_variation,
    ratio_interval,
    verdict,
)
from shopnet.bench.wrk import Latency
from shopnet.runtime.base import DRIVERS

MODE_ORDER = tuple(DRIVERS)


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
    conflicts: int | None
    """Of those, 409s (orders refused for want of stock), when the workload recorded them."""
    requests: int
    rate: float
    miss_ratio: float | None
    """Share of X-Cache: MISS answers, when the workload recorded them."""
    cpu_us: dict[str, float]
    """Median CPU µs per request by component, when the runs were profiled."""
    rps_samples: tuple[float, ...] = ()
    """req/s of each repeat, in repeat order (what the intervals resample)."""
    p99_samples: tuple[float, ...] = ()
    """p99 ms of each repeat (corrected latency for paced runs)."""
    cpu_samples: tuple[dict[str, float], ...] = ()
    """CPU µs per request by component of each profiled repeat."""

    @property
    def cv(self) -> float | None:
        """Coefficient of variation of req/s over the repeats."""
        return coefficient_of_variation(self.rps_samples)


Key = tuple[str, str, str, int, bool]


def _median_latency(latencies: list[Latency]) -> Latency:
    def med(attr: str) -> float:
        return round(statistics.median(float(getattr(lat, attr)) for lat in latencies), 3)

    return Latency(med("mean"), med("p50"), med("p90"), med("p99"), med("max"))


def _median_components(profiles: list[dict[str, float]]) -> dict[str, float]:
    names = dict.fromkeys(name for profile in profiles for name in profile)
    return {name: round(statistics.median(p.get(name, 0.0) for p in profiles), 1) for name in names}


def _sum_known(values: Iterable[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


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
                conflicts=_sum_known(r.conflicts for r in results),
                requests=sum(r.requests for r in results),
                rate=statistics.median(r.rate for r in group),
                miss_ratio=round(misses / (hits + misses), 3) if hits + misses else None,
                cpu_us=_median_components([r.cpu_us for r in group if r.cpu_us]),
                rps_samples=tuple(r.rps for r in results),
                p99_samples=tuple(lat.p99 for lat in latencies),
                cpu_samples=tuple(r.cpu_us for r in group if r.cpu_us),
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
    at_most: bool = False
    """The target is a ceiling (a cost), not a floor (a throughput)."""
    within: float | None = None
    """A two-sided target instead: the ratio lies within 1 ± this (neither costs more)."""
    interval: Interval | None = None
    """The 95 % bootstrap interval over the repeats (shopnet.bench.stats)."""

    @property
    def verdict(self) -> Verdict | None:
        """met / missed / can't tell, judged on the interval, not the point."""
        if self.value is None:
            return None
        # A ratio given without an interval is taken as exact (a hand-made or derived one).
        judged = self.interval or Interval(self.value, self.value, self.value)
        return verdict(judged, target=self.target, at_most=self.at_most, within=self.within)

    @property
    def met(self) -> bool | None:
        """True/False only when the interval says so; None for can't tell or no target."""
        return {"met": True, "missed": False}.get(self.verdict or "")

    @property
    def goal(self) -> str | None:
        """The target as the report writes it, e.g. "≥ 0.95×" or "1.00× ±5%"."""
        if self.within is not None:
            return f"1.00× ±{self.within:.0%}"
        if self.target is None:
            return None
        return f"{'≤' if self.at_most else '≥'} {self.target:.2f}×"

    @property
    def miss(self) -> str:
        """The verdict in words: "met", "can't tell", or how far off, e.g. "missed by 3%"."""
        if self.value is None or self.met is not False:
            return self.verdict or "met"
        if self.within is not None:
            return f"off by {abs(self.value - 1):.0%}, allowed {self.within:.0%}"
        assert self.target is not None
        return f"missed by {abs(self.target - self.value) / self.target:.0%}"


def ratios(summaries: list[Summary], connections: int) -> list[Ratio]:
    """The comparison's ratios on the cache-hit workload at the standard connection count."""

    def rps(mode: str, path: str | None = None) -> tuple[float, ...] | None:
        s = find(summaries, mode=mode, path=path, connections=connections)
        if s is None or not s.rps:
            return None
        return s.rps_samples or (s.rps,)

    def ratio(
        name: str,
        num: tuple[str, str | None],
        den: tuple[str, str | None],
        target: float | None = None,
        within: float | None = None,
    ) -> Ratio:
        a, b = rps(*num), rps(*den)

        def label(mode: str, path: str | None) -> str:
            return f"{mode} {path or 'gateway'}"

        if not a or not b or 0 in b:
            return Ratio(name, label(*num), label(*den), None, target, within=within)
        interval = ratio_interval(a, b)
        value = round(interval.value, 3)
        return Ratio(
            name, label(*num), label(*den), value, target, within=within, interval=interval
        )

    return [
        ratio("netns / local", ("netns", None), ("local", None), 0.95),
        ratio("docker (DNAT) / netns", ("docker", None), ("netns", None), 0.9),
        ratio("docker-proxy / docker DNAT", ("docker", "docker-proxy"), ("docker", None)),
        ratio("netns DNAT / netns direct", ("netns", None), ("netns", "gateway-direct")),
        # The gateways people pick in ours' place (bench.gateways): ahead of Caddy is the goal.
        ratio("our gateway / nginx (local)", ("local", None), ("local", "nginx")),
        ratio("our gateway / nginx (netns)", ("netns", "gateway-direct"), ("netns", "nginx")),
        ratio("our gateway / HAProxy (local)", ("local", None), ("local", "haproxy")),
        ratio("our gateway / HAProxy (netns)", ("netns", "gateway-direct"), ("netns", "haproxy")),
        ratio("our gateway / Caddy (local)", ("local", None), ("local", "caddy"), 1.0),
        ratio("our gateway / Caddy (netns)", ("netns", "gateway-direct"), ("netns", "caddy"), 1.0),
        # The calibration path: how much our product service adds to aiohttp's own cost.
        ratio(
            "product direct / trivial aiohttp (local)",
            ("local", "product-direct"),
            ("local", "calibration"),
            0.8,
        ),
        ratio(
            "product direct / trivial aiohttp (netns)",
            ("netns", "product-direct"),
            ("netns", "calibration"),
            0.8,
        ),
        ratio("gateway / product direct (local)", ("local", None), ("local", "product-direct")),
        ratio("gateway / product direct (netns)", ("netns", None), ("netns", "product-direct")),
        ratio("gateway / product direct (docker)", ("docker", None), ("docker", "product-direct")),
        # The wirings (`--modes netns:attached,docker:single…`); absent ones show no value.
        # Targets the ladder can judge (issue 25): netns attached crosses the primitives
        # Docker's tiered networks do (one bridge per hop) without a container runtime, so
        # it must carry at least as much, its interval excluding < 1. The old "≥ 0.95×
        # local" and "docker single within ±5 % of tiered" were bands noise alone moved.
        ratio("netns:attached / docker (tiered)", ("netns:attached", None), ("docker", None), 1.0),
        ratio("netns:attached / local", ("netns:attached", None), ("local", None)),
        ratio("netns:attached / netns (routed)", ("netns:attached", None), ("netns", None)),
        ratio("docker:single / docker (tiered)", ("docker:single", None), ("docker", None)),
        ratio(
            "docker:single:dns / docker:single",
            ("docker:single:dns", None),
            ("docker:single", None),
        ),
        # Across hosts (`--modes docker,swarm`): overlays and two nodes vs compose's bridges.
        ratio("swarm / docker (compose)", ("swarm", None), ("docker", None)),
    ]


# (path, the component that does that path's job): what each path's CPU is compared by.
PATH_COMPONENTS = (
    (None, "gateway"),
    ("gateway-direct", "gateway"),
    ("nginx", "nginx"),
    ("haproxy", "haproxy"),
    ("caddy", "caddy"),
    ("product-direct", "product"),
    ("calibration", "calibration"),
)


def path_cpu(summaries: list[Summary], mode: str, connections: int) -> dict[str, float]:
    """µs of CPU per request of the component in each path's place (gateway on the main
    path, nginx on its own, product direct, the calibration handler), where measured."""
    found = {}
    for path, component in PATH_COMPONENTS:
        s = find(summaries, mode=mode, path=path, connections=connections)
        if s is not None and s.cpu_us.get(component):
            found[path or s.path] = s.cpu_us[component]
    return found


def path_cpu_samples(
    summaries: list[Summary], mode: str, connections: int
) -> dict[str, tuple[float, ...]]:
    """As path_cpu, each repeat's figure (what the CPU ratios' intervals resample)."""
    found = {}
    for path, component in PATH_COMPONENTS:
        s = find(summaries, mode=mode, path=path, connections=connections)
        if s is None:
            continue
        values = tuple(c[component] for c in s.cpu_samples if c.get(component))
        if values:
            found[path or s.path] = values
    return found


def cpu_ratios(summaries: list[Summary], connections: int) -> list[Ratio]:
    """CPU per request, our component / its reference, on the cache-hit workload."""
    out = []

    def cpu_ratio(
        name: str, mode: str, ours: str, theirs: str, target: float | None = None
    ) -> Ratio:
        cells = path_cpu_samples(summaries, mode, connections)
        a, b = cells.get(ours), cells.get(theirs)
        interval = ratio_interval(a, b) if a and b else None
        value = round(interval.value, 2) if interval else None
        return Ratio(
            name, f"{mode} {ours}", f"{mode} {theirs}", value, target,
            at_most=True, interval=interval,
        )  # fmt: skip

    for mode in ("local", "netns"):
        # Goal (issue 25): within 2.5× nginx's CPU per request, and below Caddy's.
        for peer, title, target in (("nginx", "nginx", 2.5), ("haproxy", "HAProxy", None),
                                    ("caddy", "Caddy", 1.0)):  # fmt: skip
            out.append(
                cpu_ratio(
                    f"gateway CPU / {title} CPU per request ({mode})", mode, "gateway", peer, target
                )
            )
        out.append(
            cpu_ratio(
                f"product CPU / trivial aiohttp CPU per request ({mode})",
                mode,
                "product-direct",
                "calibration",
            )
        )
    return out


def modes_of(summaries: list[Summary]) -> list[str]:
    """The modes measured, variants (`netns:attached`) right after their mode."""
    found = list(dict.fromkeys(s.mode for s in summaries))
    base = [m.partition(":")[0] for m in found]
    return sorted(
        found,
        key=lambda m: (MODE_ORDER.index(b) if (b := m.partition(":")[0]) in MODE_ORDER else 9,
                       base.index(m.partition(":")[0]), found.index(m)),
    )  # fmt: skip
