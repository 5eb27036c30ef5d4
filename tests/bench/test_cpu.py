"""CPU per request by component, with each process tree's system time as a part of it."""

from __future__ import annotations

import os
from pathlib import Path

from shopnet.bench.aggregate import summarize
from shopnet.bench.cpu import Snapshot, components, per_request, snapshot
from shopnet.bench.cpu_report import cpu_delta, cpu_table
from shopnet.bench.results import RunRecord
from shopnet.bench.wrk import parse

FIXTURES = Path(__file__).parent / "fixtures"


def test_system_time_is_a_part_of_its_component_not_another_component() -> None:
    before = Snapshot({"gateway": 1.0}, {"gateway": 0.2}, 0.5, 10.0, 1.0)
    after = Snapshot({"gateway": 1.3}, {"gateway": 0.35}, 0.6, 10.6, 1.1)
    cpu = per_request(before, after, 1000)
    assert cpu["gateway"] == 300.0 and cpu["gateway system"] == 150.0
    assert cpu["wrk"] == 100.0 and cpu["kernel softirq"] == 100.0
    # The parts are not counted again: other = busy − (gateway + wrk + softirq).
    assert cpu["other"] == 100.0 and cpu["total"] == 600.0
    assert "gateway system" not in components(cpu)


def test_a_snapshot_reads_this_process_trees_user_and_system_time() -> None:
    for _ in range(200):  # some system time of our own: stat calls
        os.stat("/")
    found = snapshot([], {"me": os.getpid()})
    assert 0 <= found.system["me"] <= found.services["me"]


def test_the_cpu_table_shows_system_time_under_its_component() -> None:
    closed = parse((FIXTURES / "wrk_closed_hit.txt").read_text())
    runs = []
    for mode, gateway, system in (("netns", 60.0, 12.0), ("netns:attached", 70.0, 27.0)):
        profile = {"gateway": gateway, "product": 40.0, "total": gateway + 40.0}
        profile |= {"gateway system": system, "product system": 0.2}
        runs.append(RunRecord(mode, 1, "gateway", True, "product_hit", 16, 0.0, closed, profile))
    summaries = summarize(runs)
    table = "\n".join(cpu_table(summaries, 16))
    assert "| gateway | 60.0 | 70.0 |\n| ↳ of which system | 12.0 | 27.0 |\n| product |" in table
    assert "product system" not in table  # under 0.5 µs in every mode: no row
    attached, routed = summaries[1], summaries[0]
    # What grew is named by component; its system part (+15) is not a component of its own.
    assert cpu_delta(attached, routed) == " CPU per request +10 µs (gateway +10 µs)."
