"""Known samples → known intervals and verdicts (the bootstrap is exact for few repeats)."""

from __future__ import annotations

import pytest

from shopnet.bench.stats import (
    CANT_TELL,
    Interval,
    coefficient_of_variation,
    median_distribution,
    median_interval,
    ratio_interval,
    verdict,
)


def test_median_distribution_of_three_is_exact() -> None:
    # Resampling [1, 2, 3]: the median is 1 when at least two draws are 1: 7/27; same for 3.
    dist = median_distribution([1.0, 2.0, 3.0])
    assert dist[1.0] == pytest.approx(7 / 27)
    assert dist[3.0] == pytest.approx(7 / 27)
    assert dist[2.0] == pytest.approx(13 / 27)


def test_median_distribution_of_two_averages_the_pair() -> None:
    assert median_distribution([10.0, 20.0]) == pytest.approx({10.0: 0.25, 15.0: 0.5, 20.0: 0.25})


def test_constant_samples_give_a_point_interval() -> None:
    interval = ratio_interval([10.0, 10.0, 10.0], [5.0, 5.0, 5.0])
    assert (interval.value, interval.low, interval.high) == (2.0, 2.0, 2.0)


def test_ratio_interval_of_known_samples() -> None:
    # 7/27 > 2.5 %: the interval reaches both extremes of the numerator's medians.
    interval = ratio_interval([1.0, 2.0, 3.0], [1.0, 1.0, 1.0])
    assert (interval.value, interval.low, interval.high) == (2.0, 1.0, 3.0)


def test_five_repeats_cut_the_tails() -> None:
    # With five repeats, the median equals the smallest value only when ≥3 of 5 draws are
    # it: P = 0.0579 > 2.5 %, so the low end is still 1; the interval is [1, 5].
    assert median_interval([1.0, 2.0, 3.0, 4.0, 5.0]) == Interval(3.0, 1.0, 5.0)
    # Ten repeats: P(median ≤ smallest) is tiny, so the extremes drop out.
    ten = [float(v) for v in range(1, 11)]
    interval = median_interval(ten)
    assert interval.low is not None and interval.high is not None
    assert 1.0 < interval.low < 5.5 < interval.high < 10.0


def test_one_repeat_has_no_interval_and_cannot_be_judged() -> None:
    interval = ratio_interval([0.5], [1.0])
    assert not interval.known and interval.value == 0.5
    assert verdict(interval, target=0.95) == CANT_TELL
    assert "no interval" in interval.text()


@pytest.mark.parametrize(
    ("low", "high", "kwargs", "expected"),
    [
        (0.96, 1.10, {"target": 0.95}, "met"),
        (0.80, 0.90, {"target": 0.95}, "missed"),
        (0.90, 1.00, {"target": 0.95}, "can't tell"),
        (1.5, 1.9, {"target": 2.0, "at_most": True}, "met"),
        (2.1, 2.4, {"target": 2.0, "at_most": True}, "missed"),
        (1.8, 2.2, {"target": 2.0, "at_most": True}, "can't tell"),
        (0.97, 1.04, {"within": 0.05}, "met"),
        (0.80, 0.90, {"within": 0.05}, "missed"),
        (0.83, 0.98, {"within": 0.05}, "can't tell"),
        (0.9, 1.1, {}, None),
    ],
)
def test_verdicts(low: float, high: float, kwargs: dict, expected: str | None) -> None:
    assert verdict(Interval((low + high) / 2, low, high), **kwargs) == expected


def test_the_wiring_ratio_that_flipped_between_runs_is_cant_tell() -> None:
    # docs/comparison.md's history: attached/routed req/s measured 1.00× and 0.80× on the same
    # commit. Two repeats each that straddle the target must not print met or missed.
    attached = [10765.0, 12900.0]
    routed = [12800.0, 13000.0]
    interval = ratio_interval(attached, routed)
    assert interval.low is not None and interval.high is not None
    assert interval.low < 0.95 < interval.high
    assert verdict(interval, target=0.95) == CANT_TELL


def test_coefficient_of_variation() -> None:
    assert coefficient_of_variation([10.0]) is None
    assert coefficient_of_variation([9.0, 10.0, 11.0]) == pytest.approx(0.1)


def test_difference_interval_of_known_samples() -> None:
    from shopnet.bench.stats import difference_interval

    # [1, 2, 3] − [1, 1, 1]: medians 1..3 with 7/27, 13/27, 7/27 → the interval is [0, 2].
    assert difference_interval([1.0, 2.0, 3.0], [1.0, 1.0, 1.0]) == Interval(1.0, 0.0, 2.0)
    assert not difference_interval([5.0], [1.0, 2.0]).known
