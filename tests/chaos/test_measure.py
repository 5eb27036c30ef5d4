"""The chaos maths on hand-made timelines: failed, first success, back within 10%."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest

from shopnet.chaos import chart, command, measure, publish, report
from shopnet.chaos.load import LoadResult
from shopnet.chaos.measure import Sample
from shopnet.chaos.results import ScenarioResult
from shopnet.chaos.scenarios import choose
from shopnet.chaos.verify import check
from shopnet.errors import ConfigError
from shopnet.hostnet.ratelimit import Rate
from shopnet.runtime.progress import Progress


def steady(start: float, end: float, per_second: int, *, ok: bool = True) -> list[Sample]:
    """`per_second` requests a second, each answered 10 ms after it was sent."""
    step = 1 / per_second
    count = round((end - start) * per_second)
    return [Sample(start + i * step, start + i * step + 0.01, ok) for i in range(count)]


def test_a_fault_nobody_notices_recovers_at_once() -> None:
    samples = steady(0, 10, 100)
    got = measure.recovery(samples, fault_at=4.0, lifted_at=4.0, end=10.0)
    assert got.failed == 0 and got.failed_pct == 0
    assert got.baseline_rps == pytest.approx(100)
    assert got.first_success_s == pytest.approx(0.01, abs=0.011)
    assert got.back_within_10pct_s == 0.0


def test_an_outage_counts_failures_first_success_and_recovery() -> None:
    # 100/s until 4 s, only failures until 6.5 s, 50/s until 8 s, then 100/s again.
    samples = (
        steady(0, 4, 100) + steady(4, 6.5, 40, ok=False) + steady(6.5, 8, 50) + steady(8, 12, 100)
    )
    got = measure.recovery(samples, fault_at=4.0, lifted_at=4.0, end=12.0)
    assert got.failed == 100
    assert got.failed_pct == pytest.approx(100 * 100 / len(samples))
    assert got.first_success_s == pytest.approx(2.51)
    assert got.back_within_10pct_s == 4.0  # buckets from the fault: 4-5 … 7-8 short, 8-9 full


def test_one_lucky_bucket_is_not_recovery() -> None:
    samples = steady(0, 4, 100) + steady(5, 6, 100) + steady(7, 8, 50) + steady(8, 10, 95)
    got = measure.recovery(samples, fault_at=4.0, lifted_at=4.0, end=10.0)
    assert got.back_within_10pct_s == 4.0  # 5-6 is back, 6-7 empty; 8-9 and 9-10 hold


def test_recovery_counts_from_the_lift_of_a_lasting_fault() -> None:
    samples = steady(0, 4, 100) + steady(4, 9, 20) + steady(9, 14, 100)
    got = measure.recovery(samples, fault_at=4.0, lifted_at=9.0, end=14.0)
    assert got.back_within_10pct_s == 0.0
    assert got.failed == 0


def test_never_back_and_never_a_success_say_so() -> None:
    samples = steady(0, 4, 100) + steady(4, 10, 10, ok=False)
    got = measure.recovery(samples, fault_at=4.0, lifted_at=4.0, end=10.0)
    assert got.first_success_s is None and got.back_within_10pct_s is None
    assert "not in the run" in report._seconds(None)


def test_a_request_sent_before_the_fault_is_not_its_first_success() -> None:
    samples = [Sample(3.9, 4.2, True), Sample(4.1, 4.3, False), Sample(4.5, 5.0, True)]
    assert measure.first_success_after(samples, 4.0) == pytest.approx(1.0)


def test_the_warm_up_is_left_out_of_the_baseline() -> None:
    samples = steady(0, 1, 10) + steady(1, 4, 100)
    assert measure.baseline(samples, 1.0, 4.0, 1.0) == pytest.approx(100, rel=0.01)


def test_lost_and_duplicated_orders_are_found() -> None:
    result = LoadResult(
        acked={"k1": "a", "k2": "b", "k3": "c"},
        product_of_key={"k1": 1, "k2": 2, "k3": 2, "k4": 5},
    )
    stored = [
        {"id": "a", "items": [{"product_id": 1}]},
        {"id": "b", "items": [{"product_id": 2}]},
        {"id": "x", "items": [{"product_id": 1}]},  # a second order for k1's key
    ]
    got = check(result, stored)
    assert (got.keys, got.acked, got.stored) == (4, 3, 3)
    assert got.lost == 1  # "c" was acknowledged but is not stored
    assert got.duplicates == 1


def test_scenarios_and_rates_parse_or_say_what_is_wrong() -> None:
    assert [s.name for s in choose("kill-postgres,rate")] == ["kill-postgres", "rate"]
    with pytest.raises(ConfigError, match="choose from"):
        choose("kill-everything")
    assert Rate.parse("200kbit").bps == 200_000
    assert Rate.parse("1.5Mbit").describe() == "1.5 mbit/s"
    assert Rate.parse("8mbit").burst_bytes == 16_000
    for bad in ("10", "10mb", "fast", "1kbit"):
        with pytest.raises(ConfigError):
            Rate.parse(bad)


def test_the_recovery_section_is_replaced_and_survives_a_bench_publish() -> None:
    page = "# t\n\n## Isolation, measured\n\nx\n\n## Charts\n\n![c](c.png)\n"
    first = publish.replace(page, f"{publish.HEADING}\n\nold figures\n")
    assert first.index(publish.HEADING) < first.index("## Charts")
    second = publish.replace(first, f"{publish.HEADING}\n\nnew figures\n")
    assert "old figures" not in second and second.count(publish.HEADING) == 1
    assert second.endswith("## Charts\n\n![c](c.png)\n")
    regenerated = "# t\n\n## Isolation, measured\n\ny\n\n## Charts\n\n![c](c.png)\n"
    kept = publish.keep(second, regenerated)
    assert "new figures" in kept and "\ny\n" in kept
    assert publish.keep(page, regenerated) == regenerated


def sample_result(**changes: Any) -> ScenarioResult:
    fields: dict[str, Any] = dict(
        mode="netns", scenario="kill-product", what="kill -9 product-1",
        injected="SIGKILL to product-1 (pid 1)", seconds=10.0, fault_at=3.0, lifted_at=3.0,
        requests=1000, failed=10, failed_pct=1.0, first_success_s=0.1, baseline_rps=100.0,
        back_within_10pct_s=2.0, healthy_after_s=0.5, orders_tried=250, orders_acked=249,
        orders_stored=250, orders_lost=0, orders_duplicated=0, statuses={"200": 990},
        timeline={"t": [0.0, 1.0], "ok": [100.0, 90.0], "failed": [0.0, 10.0]}, products=2,
    )  # fmt: skip
    return ScenarioResult(**{**fields, **changes})


def test_without_matplotlib_the_chart_is_skipped_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # not importable
    results = [sample_result(), sample_result(mode="docker")]
    stderr = io.StringIO()
    command._write(results, tmp_path, as_json=False, progress=Progress(stderr))
    out = capsys.readouterr().out
    noted = [line for line in stderr.getvalue().splitlines() if "no chart" in line]
    assert len(noted) == 1 and noted[0].endswith(f"warning: {chart.NO_MATPLOTLIB}")
    assert not (tmp_path / "timeline.png").exists()
    assert report.load(tmp_path / "results.json") == results
    assert "| kill-product | docker |" in (tmp_path / "report.md").read_text()
    assert [line.split()[1] for line in out.splitlines()[1:]] == ["netns", "docker"]


def test_the_failed_column_splits_fault_failures_from_expected_answers() -> None:
    """Killing a product on a catalog with deleted products: the 404/409/422 the workload
    expects are not the fault's failures (issue 25: "132 failed (1.7 %)" were all of those)."""
    statuses = {"200": 7600, "404": 90, "409": 30, "422": 12, "503": 5, "connect": 3, "timeout": 1}
    result = sample_result(requests=7741, failed=111, failed_pct=1.4, statuses=statuses)
    assert result.expected == {"404": 90, "409": 30, "422": 12}
    assert result.fault_failed == 9
    cells = report.row(result)
    assert cells[3] == "9 (0.1%)"
    assert cells[4] == "132 (90 × 404, 30 × 409, 12 × 422)"
    assert report.HEADERS[3:5] == ("failed by the fault", "expected answers")
    assert report.row(sample_result())[3:5] == ("0 (0.0%)", "0")
