"""Orders against limited stock: parsing wrk's created/conflicts, and the report's verdict rows.

The fixtures are recorded output of real wrk runs of `order_limited` against a local stack."""

from __future__ import annotations

import json
from pathlib import Path

from shopnet.bench.orders import StockCheck
from shopnet.bench.report import render, stock_rows
from shopnet.bench.results import Results, RunRecord
from shopnet.bench.wrk import parse

FIXTURES = Path(__file__).parent / "fixtures"


def _limited() -> RunRecord:
    result = parse((FIXTURES / "wrk_order_limited.txt").read_text())
    stock = StockCheck(
        stock_each=50,
        products=4,
        stock_left=0,
        created=result.created or 0,
        conflicts=result.conflicts or 0,
        placed=200,
    )
    return RunRecord("local", 1, "gateway", True, "order_limited", 16, 0.0, result, stock=stock)


def test_parse_reports_created_and_conflicts() -> None:
    result = parse((FIXTURES / "wrk_order_limited.txt").read_text())
    assert (result.created, result.conflicts) == (200, 389)
    assert result.statuses == {"201": 200, "409": 389}
    assert result.failed == 389  # the conflicts are non-2xx answers, never hidden
    # Older output (no such fields) keeps them unknown rather than zero.
    assert parse((FIXTURES / "wrk_closed_hit.txt").read_text()).created is None


def test_orders_cut_off_mid_flight_still_add_up() -> None:
    """Recorded with 400 units each (never exhausted) for 1 s at 16 connections: the
    stock read back showed 352 sold and the server stored 352 orders for the run's
    customer, while wrk saw 336 201s; the 16 it cut off were placed all the same."""
    result = parse((FIXTURES / "wrk_order_limited_cut.txt").read_text())
    assert (result.created, result.conflicts) == (336, 0)
    stock = StockCheck(400, 4, stock_left=1248, created=336, conflicts=0, placed=352)
    assert stock.holds


def test_stock_check_verdicts() -> None:
    assert StockCheck(50, 4, stock_left=0, created=200, conflicts=9, placed=200).holds
    # wrk cut 7 orders off mid-flight: placed on the server, never seen as 201s.
    assert StockCheck(50, 4, stock_left=1, created=192, conflicts=30, placed=199).holds
    lost = StockCheck(50, 4, stock_left=0, created=199, conflicts=9, placed=199)  # a unit vanished
    assert not lost.holds and not lost.oversold
    phantom = StockCheck(
        50, 4, stock_left=0, created=201, conflicts=9, placed=200
    )  # a 201, no order
    assert not phantom.holds
    oversold = StockCheck(50, 4, stock_left=-1, created=201, conflicts=9, placed=201)
    assert oversold.oversold and not oversold.holds


def test_report_rows_and_json_round_trip(tmp_path: Path) -> None:
    results = Results(tmp_path, {"options": {"connections": 16}})
    results.runs.append(_limited())
    rows = stock_rows(results)
    assert rows[0].startswith("## Orders against limited stock")
    assert "| local | 1 | 16 | 294 | 200 | 200 | 200 | 389 | 0 | 0 | ✓ | ✓ |" in rows
    assert results.broken_stock() == []
    results.save()
    again = Results.load(results.path)
    assert again.runs[0].stock == results.runs[0].stock
    assert again.runs[0].result.conflicts == 389
    saved = json.loads(results.path.read_text())["runs"][0]
    assert saved["stock"]["holds"] is True and saved["result"]["created"] == 200


def test_a_broken_invariant_is_loud(tmp_path: Path) -> None:
    good = _limited()
    bad = RunRecord(
        "netns", 1, "gateway", True, "order_limited", 16, 0.0, good.result,
        stock=StockCheck(50, 4, stock_left=-2, created=202, conflicts=387, placed=202),
    )  # fmt: skip
    results = Results(tmp_path, {"options": {"connections": 16}}, [good, bad])
    assert results.broken_stock() == [bad]
    report = render(results)
    assert "STOCK INVARIANT BROKEN** in netns (repeat 1)" in report
    assert (
        "| netns | 1 | 16 | 294 | 200 | 202 | 202 | 387 | 2 | -2 | ✓ | **✗ OVERSOLD** |" in report
    )
