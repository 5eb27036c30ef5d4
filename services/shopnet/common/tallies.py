"""Counters and histograms counted in plain ints; prometheus sees the sums when it asks.

prometheus_client's `Counter.inc` and `Histogram.observe` take a lock and walk a
few layers per call: three of them per product cache hit were ~10 % of its CPU.
A service is one event loop per process, so a count needs no lock: a tallied
counter's child is an int, a tallied histogram's child an array of per-bucket
counts and a sum. Everything here runs on the event loop's thread.

Prometheus still sees the same metrics, in one of two ways:

- Single process: each tallied metric is a collector in the app's registry that
  builds CounterMetricFamily / HistogramMetricFamily from the tallies at collect
  time — the same names, help texts, labels, buckets and `_created` samples as
  prometheus_client's own Counter and Histogram would give.
- Multiprocess mode (PROMETHEUS_MULTIPROC_DIR, the gateway's workers): the sums
  must reach this process's sample files, which MultiProcessCollector adds up
  over all workers. Each tallied metric then has a real prometheus metric as its
  sink, and `flush()` adds what was counted since the last flush to the sink's
  children. ServiceMetrics flushes after every request it records (any worker's
  /metrics must count what the others answered, at once) and before this process
  answers /metrics. Multiprocess mode is the opt-in (SHOPNET_GATEWAY_WORKERS > 1);
  the default single process counts for free.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client import metrics as prometheus_metrics
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.samples import Sample
from prometheus_client.utils import INF, floatToGoString


def _created_samples_wanted() -> bool:
    # prometheus_client's own switch (PROMETHEUS_DISABLE_CREATED_SERIES, disable_created_metrics())
    return prometheus_metrics._use_created


class Count:
    """One counter child: an int, counted since this process started."""

    __slots__ = ("_flushed", "created", "value")

    def __init__(self) -> None:
        self.value = 0
        self.created = time.time()
        self._flushed = 0

    def inc(self, amount: int = 1) -> None:
        self.value += amount


class Observations:
    """One histogram child: how many observations fell in each bucket (not cumulative), their sum."""

    __slots__ = ("_flushed_counts", "_flushed_sum", "_upper_bounds", "counts", "created", "sum")

    def __init__(self, upper_bounds: tuple[float, ...]) -> None:
        self._upper_bounds = upper_bounds
        self.counts = [0] * len(upper_bounds)
        self.sum = 0.0
        self.created = time.time()
        self._flushed_counts = [0] * len(upper_bounds)
        self._flushed_sum = 0.0

    def observe(self, amount: float) -> None:
        # The first bucket whose upper bound is >= amount, as Histogram.observe picks it.
        self.counts[bisect_left(self._upper_bounds, amount)] += 1
        self.sum += amount


Child = TypeVar("Child", Count, Observations)


class _Tallied(Generic[Child]):
    """A labelled family of children; `labels()` binds one (bind once, outside the hot path)."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._children: dict[tuple[str, ...], Child] = {}
        self.sink: Counter | Histogram | None = None
        """Multiprocess mode: the prometheus metric `flush()` adds to."""
        if not self.labelnames:  # like prometheus_client: an unlabelled metric exists at 0
            self.labels()

    def labels(self, *values: str) -> Child:
        child = self._children.get(values)
        if child is None:
            if len(values) != len(self.labelnames):
                raise ValueError(f"{self.name}: expected labels {self.labelnames}, got {values}")
            child = self._children[values] = self._new_child()
        return child

    def _new_child(self) -> Child:
        raise NotImplementedError

    def describe(self) -> list[Metric]:
        return [self._family()]

    def _family(self) -> Metric:
        raise NotImplementedError


class TalliedCounter(_Tallied[Count]):
    def _new_child(self) -> Count:
        return Count()

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        created = _created_samples_wanted()
        for values, child in self._children.items():
            family.add_metric(values, child.value, created=child.created if created else None)
        yield family

    def flush(self) -> None:
        assert isinstance(self.sink, Counter)
        for values, child in self._children.items():
            value = child.value
            if value != child._flushed:
                self.sink.labels(*values).inc(value - child._flushed)
                child._flushed = value


class TalliedHistogram(_Tallied[Observations]):
    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], buckets: Sequence[float]
    ) -> None:
        bounds = [float(b) for b in buckets]
        if bounds[-1] != INF:
            bounds.append(INF)
        self.upper_bounds = tuple(bounds)
        self.buckets = tuple(buckets)
        self._le = tuple(floatToGoString(b) for b in bounds)
        super().__init__(name, documentation, labelnames)

    def _new_child(self) -> Observations:
        return Observations(self.upper_bounds)

    def _family(self) -> HistogramMetricFamily:
        return HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        created = _created_samples_wanted()
        for values, child in self._children.items():
            cumulative, running = [], 0
            for le, count in zip(self._le, child.counts, strict=True):
                running += count
                cumulative.append((le, running))
            family.add_metric(values, cumulative, child.sum)
            if created:
                labels = dict(zip(self.labelnames, values, strict=True))
                family.samples.append(Sample(f"{self.name}_created", labels, child.created))
        yield family

    def flush(self) -> None:
        assert isinstance(self.sink, Histogram)
        for values, child in self._children.items():
            counts = child.counts
            if counts == child._flushed_counts:
                continue
            # Histogram.observe adds one observation; a flush adds many, through the
            # child's per-bucket values and sum (prometheus_client internals, stable
            # since its first releases; tests/common/test_tallies.py checks them).
            sink = self.sink.labels(*values)
            for index, (count, flushed) in enumerate(
                zip(counts, child._flushed_counts, strict=True)
            ):
                if count != flushed:
                    sink._buckets[index].inc(count - flushed)
            sink._sum.inc(child.sum - child._flushed_sum)
            child._flushed_counts = list(counts)
            child._flushed_sum = child.sum


class Tallies:
    """Makes the tallied metrics of one registry; flushes them in multiprocess mode."""

    def __init__(self, registry: CollectorRegistry, *, multiprocess: bool) -> None:
        self.registry = registry
        self.multiprocess = multiprocess
        self._metrics: list[TalliedCounter | TalliedHistogram] = []

    def counter(
        self, name: str, documentation: str, labelnames: Sequence[str] = ()
    ) -> TalliedCounter:
        tallied = TalliedCounter(name, documentation, labelnames)
        self._add(tallied, lambda: Counter(name, documentation, labelnames, registry=self.registry))
        return tallied

    def histogram(
        self, name: str, documentation: str, labelnames: Sequence[str], *, buckets: Sequence[float]
    ) -> TalliedHistogram:
        tallied = TalliedHistogram(name, documentation, labelnames, buckets)
        self._add(
            tallied,
            lambda: Histogram(
                name, documentation, labelnames, buckets=buckets, registry=self.registry
            ),
        )
        return tallied

    def _add(
        self,
        tallied: TalliedCounter | TalliedHistogram,
        make_sink: Callable[[], Counter | Histogram],
    ) -> None:
        if self.multiprocess:
            tallied.sink = make_sink()  # registered in the registry instead of the tally
            self._metrics.append(tallied)
        else:
            self.registry.register(tallied)

    def flush(self) -> None:
        """Multiprocess mode: add what was counted since the last flush to the sinks."""
        for tallied in self._metrics:
            tallied.flush()
