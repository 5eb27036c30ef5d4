"""Confidence intervals and verdicts for figures measured over a few interleaved repeats.

A ratio of two medians from 2–10 repeats moves 15–20 % from run to run on this kind of
machine; a verdict printed without its interval can be flipped by noise alone. So every
ratio and target the report judges carries a 95 % percentile-bootstrap interval of the
ratio of medians, and its verdict is one of three:

    met          the whole interval is on the good side of the target
    missed       the whole interval is on the bad side
    can't tell   the interval straddles the target (or one repeat gave no interval)

Plain stdlib, no numpy or scipy (scipy is not in our lock, and this needs neither): the
repeats are few, so for up to EXACT_MAX samples the bootstrap distribution of a median is
computed *exactly* by enumerating every resample as a multiset with its multinomial
weight (126 multisets for 5 repeats, 48,620 for 10) — the same answer on every run, which
is what a test and a published page need. Larger samples fall back to a seeded Monte
Carlo bootstrap (RESAMPLES draws).
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

LEVEL = 0.95
EXACT_MAX = 10
RESAMPLES = 4000
CANT_TELL: Final = "can't tell"

Verdict = Literal["met", "missed", "can't tell"]


@dataclass(frozen=True, slots=True)
class Interval:
    value: float
    """The point estimate (ratio of the medians)."""
    low: float | None
    high: float | None
    """None when there is no interval to give (fewer than two repeats on either side)."""

    @property
    def known(self) -> bool:
        return self.low is not None and self.high is not None

    def text(self, fmt: str = "{:.2f}", unit: str = "×") -> str:
        """ "0.87× [0.80–0.95]" or, without an interval, "0.87× [one repeat]"."""
        point = fmt.format(self.value) + unit
        if self.low is None or self.high is None:
            return f"{point} [no interval: one repeat]"
        return f"{point} [{fmt.format(self.low)}–{fmt.format(self.high)}]"


def median_distribution(samples: Sequence[float]) -> dict[float, float]:
    """The bootstrap distribution of the sample median: value → probability.

    Exact (every multiset of len(samples) draws with replacement, weighted by how many
    ordered resamples give it) up to EXACT_MAX samples; seeded Monte Carlo above that.
    """
    n = len(samples)
    if n == 0:
        raise ValueError("no samples")
    dist: defaultdict[float, float] = defaultdict(float)
    if n <= EXACT_MAX:
        total = n**n
        fact_n = math.factorial(n)
        for combo in itertools.combinations_with_replacement(range(n), n):
            weight = fact_n
            for count in Counter(combo).values():
                weight //= math.factorial(count)
            dist[statistics.median(samples[i] for i in combo)] += weight / total
        return dict(dist)
    rng = random.Random(f"shopnet-bootstrap-{n}")  # seeded: a rerun gives the same interval
    for _ in range(RESAMPLES):
        dist[statistics.median(rng.choices(samples, k=n))] += 1 / RESAMPLES
    return dict(dist)


def _quantile(dist: dict[float, float], q: float) -> float:
    """The smallest value whose cumulative probability reaches q (tolerant of float sums)."""
    acc = 0.0
    ordered = sorted(dist.items())
    for value, p in ordered:
        acc += p
        if acc >= q - 1e-9:
            return value
    return ordered[-1][0]


def median_interval(samples: Sequence[float], level: float = LEVEL) -> Interval:
    """Median of one figure over repeats, with its bootstrap interval."""
    point = statistics.median(samples)
    if len(samples) < 2:
        return Interval(point, None, None)
    dist = median_distribution(samples)
    tail = (1 - level) / 2
    return Interval(point, _quantile(dist, tail), _quantile(dist, 1 - tail))


def ratio_interval(
    numerator: Sequence[float], denominator: Sequence[float], level: float = LEVEL
) -> Interval:
    """median(numerator) / median(denominator), with a bootstrap interval that resamples
    each side's repeats independently (the modes ran in turn, not in pairs)."""
    point = statistics.median(numerator) / statistics.median(denominator)
    if len(numerator) < 2 or len(denominator) < 2:
        return Interval(point, None, None)
    top, bottom = median_distribution(numerator), median_distribution(denominator)
    ratios: defaultdict[float, float] = defaultdict(float)
    for a, pa in top.items():
        for b, pb in bottom.items():
            ratios[a / b] += pa * pb
    tail = (1 - level) / 2
    return Interval(point, _quantile(ratios, tail), _quantile(ratios, 1 - tail))


def verdict(
    interval: Interval,
    *,
    target: float | None = None,
    at_most: bool = False,
    within: float | None = None,
) -> Verdict | None:
    """met / missed / can't tell against a floor (target), a ceiling (target, at_most) or
    a band (1 ± within); None when there is no target."""
    if interval.low is None or interval.high is None:
        return CANT_TELL if target is not None or within is not None else None
    low, high = interval.low, interval.high
    if within is not None:
        lo_ok, hi_ok = 1 - within, 1 + within
        if lo_ok <= low and high <= hi_ok:
            return "met"
        if high < lo_ok or low > hi_ok:
            return "missed"
        return CANT_TELL
    if target is None:
        return None
    good_low, good_high = (float("-inf"), target) if at_most else (target, float("inf"))
    if good_low <= low and high <= good_high:
        return "met"
    if high < good_low or low > good_high:
        return "missed"
    return CANT_TELL


def coefficient_of_variation(samples: Sequence[float]) -> float | None:
    """Sample standard deviation / mean; None below two samples (or a zero mean)."""
    if len(samples) < 2:
        return None
    mean = statistics.fmean(samples)
    return statistics.stdev(samples) / mean if mean else None


def difference_interval(
    minuend: Sequence[float], subtrahend: Sequence[float], level: float = LEVEL
) -> Interval:
    """median(minuend) − median(subtrahend) with its bootstrap interval (what a hop adds)."""
    point = statistics.median(minuend) - statistics.median(subtrahend)
    if len(minuend) < 2 or len(subtrahend) < 2:
        return Interval(point, None, None)
    top, bottom = median_distribution(minuend), median_distribution(subtrahend)
    diffs: defaultdict[float, float] = defaultdict(float)
    for a, pa in top.items():
        for b, pb in bottom.items():
            diffs[a - b] += pa * pb
    tail = (1 - level) / 2
    return Interval(point, _quantile(diffs, tail), _quantile(diffs, 1 - tail))
