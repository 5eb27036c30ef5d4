"""Bench parsing, aggregation and reporting, from recorded output of real wrk runs against the stack."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from shopnet.bench import lifecycle, model, publish, report, write_outputs
from shopnet.bench.aggregate import cpu_ratios, find, ratios, summarize
from shopnet.bench.cpu_report import baseline_of
from shopnet.bench.report import render
from shopnet.bench.results import Results, RunRecord
from shopnet.bench.wrk import WORKLOADS, WrkRun, parse
from shopnet.errors import DriverError

FIXTURES = Path(__file__).parent / "fixtures"


def test_parse_closed_loop_run() -> None:
    result = parse((FIXTURES / "wrk_closed_hit.txt").read_text())
    assert result.requests == 8491
    assert result.duration_s == pytest.approx(2.00309)
    assert result.rps == pytest.approx(4238.95, rel=1e-3)
    assert (
        result.latency.p50 == 3.512 and result.latency.p99 == 9.008 and result.latency.max == 11.749
    )
    assert result.failed == 0
    assert result.corrected is None


def test_parse_paced_run_keeps_corrected_latency_and_cache_counts() -> None:
    result = parse((FIXTURES / "wrk_paced_mix.txt").read_text())
    assert result.corrected is not None
    # The schedule fell behind, so latency from the scheduled time dwarfs wrk's own figure.
    assert result.corrected.p50 > 10 * result.latency.p50
    assert result.cache == {"HIT": 1636, "MISS": 946}
    assert result.statuses == {"200": 2582, "201": 273}


def test_parse_refuses_output_without_our_line() -> None:
    with pytest.raises(DriverError, match="no result line"):
        parse("Running 2s test @ http://x\nRequests/sec: 10\n")


def test_wrk_argv_passes_per_thread_rate() -> None:
    argv = WrkRun(
        url="http://h:1", workload="mix", connections=8, threads=2, rate=1000, duration_s=3
    ).argv()
    assert argv[argv.index("--") + 1 :] == ["mix", "/api", "1", "1000", "500.000", "bench"]
    assert "-t2" in argv and "-c8" in argv and "-d3s" in argv


def _results(tmp_path: Path) -> Results:
    closed = parse((FIXTURES / "wrk_closed_hit.txt").read_text())
    paced = parse((FIXTURES / "wrk_paced_mix.txt").read_text())
    results = Results(
        tmp_path,
        {"options": {"connections": 16, "duration_s": 2, "repeats": 2}, "machine": {"cores": 2}},
    )
    for repeat in (1, 2):
        for mode, scale in (("local", 1.0), ("netns", 0.97), ("docker", 0.8)):
            for workload in WORKLOADS:
                result = closed if workload != "mix" else paced
                # Each order run had 3 orders refused for want of stock (409s).
                refused = 3 if workload == "order_create" else 0
                shrunk = type(result)(
                    requests=int(result.requests * scale), duration_s=result.duration_s, latency=result.latency,
                    errors={**result.errors, "status": refused}, statuses=result.statuses, cache=result.cache,
                    conflicts=refused if workload == "order_create" else None,
                )  # fmt: skip
                # The headline run carries a CPU profile; the kernel's share grows as the
                # mode's throughput shrinks, as it would with more packet processing.
                profile = {}
                if workload == "product_hit":
                    profile = {"gateway": 60.0, "product": 40.0, "wrk": 15.0}
                    profile["kernel softirq"] = round(20.0 / scale, 1)
                    profile["total"] = sum(profile.values())
                results.runs.append(
                    RunRecord(mode, repeat, "gateway", True, workload, 16, 0.0, shrunk, profile)
                )
            results.runs.append(
                RunRecord(mode, repeat, "gateway", True, "product_hit", 16, 2000.0, paced)
            )
        results.runs.append(
            RunRecord("local", repeat, "nginx", False, "product_hit", 16, 0.0, closed)
        )
        results.runs.append(
            RunRecord("docker", repeat, "docker-proxy", False, "product_hit", 16, 0.0, closed)
        )
        for mode, up_s in (("local", 9.0), ("docker", 20.0 + repeat)):
            lifecycle.record(results, mode, repeat, up_s=up_s, down_s=3.0)
    return results


def test_summaries_are_medians_and_ratios_follow(tmp_path: Path) -> None:
    summaries = summarize(_results(tmp_path).runs)
    local = find(summaries, mode="local", connections=16)
    assert local is not None and local.repeats == 2 and local.rps == pytest.approx(4238.9, rel=1e-3)
    paced = find(summaries, mode="local", connections=16, paced=True)
    assert (
        paced is not None and paced.latency.p50 == 266.121
    )  # corrected latency is what paced reports
    by_name = {r.name: r for r in ratios(summaries, 16)}
    assert by_name["netns / local"].value == pytest.approx(0.97, abs=0.01)
    assert by_name["netns / local"].met is True
    assert by_name["docker (DNAT) / netns"].value == pytest.approx(0.825, abs=0.01)
    assert by_name["docker (DNAT) / netns"].met is False
    assert by_name["our gateway / nginx (local)"].value == pytest.approx(1.0, abs=0.01)


def test_report_and_charts_are_written_with_every_workload(tmp_path: Path) -> None:
    results = _results(tmp_path)
    results.save()
    paths = write_outputs(Results.load(results.path))
    report = paths["report"].read_text()
    for title in (
        "cache hit",
        "cache miss path",
        "GET /api/products?page",
        "POST /api/orders",
        "Mix",
    ):
        assert title in report
    assert "| docker (DNAT) / netns | 0.82× [0.82–0.82] | ≥ 0.90× | missed |" in report
    # Sold-out refusals are counted as failed, shown as such, and the report says why.
    assert "about one order in 13 (they pick products at random) is rightly refused" in report
    assert "| 6 (6 × 409) | – |" in report  # two repeats of 3 refusals, local order_create
    assert "missed by 8%" in report
    assert "Where the CPU goes" in report and "| kernel softirq | 20.0 | 20.6 | 25.0 |" in report
    assert "kernel softirq +4 µs" in report  # why docker missed its ratio, from the profile
    assert "closed-loop" in report and "Open-loop latency" in report
    assert "| docker | 21.5 (21.0–22.0) | 3.0 (3.0–3.0) | 2 |" in report  # start-up per mode
    for chart in ("throughput", "latency"):
        assert paths[chart].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(paths["results"].read_text())
    assert {r["workload"] for r in data["runs"]} == set(WORKLOADS)


def test_publish_writes_the_docs_page_with_its_charts_and_figures(tmp_path: Path) -> None:
    run = tmp_path / "run"
    results = _results(run)
    results.save()
    page = publish(run, tmp_path / "docs")
    text = page.read_text()
    assert text.startswith("<!-- Generated by `shopnet bench --publish")
    assert "](comparison/charts/throughput.png)" in text
    assert (tmp_path / "docs" / "comparison" / "charts" / "throughput.png").exists()
    copied = json.loads((tmp_path / "docs" / "comparison" / "results.json").read_text())
    assert len(copied["runs"]) == len(results.runs)
    # The hand-written account of the model's gap survives the next publish.
    finding = f"{model.FINDINGS_HEADING}\n\nperf says: br_netfilter.\n"
    page.write_text(text.replace("\n## Charts", "\n" + finding + "\n## Charts"))
    again = publish(run, tmp_path / "docs").read_text()
    assert finding in again and again.count(model.FINDINGS_HEADING) == 1


def test_swarm_vs_compose_is_reported_across_hosts_only_when_both_ran(tmp_path: Path) -> None:
    results = _results(tmp_path)
    assert "## Across hosts" not in report.render(results)
    closed = parse((FIXTURES / "wrk_closed_hit.txt").read_text())
    for repeat in (1, 2):
        half = type(closed)(
            requests=closed.requests // 2, duration_s=closed.duration_s, latency=closed.latency,
            errors=closed.errors, statuses=closed.statuses, cache=closed.cache,
        )  # fmt: skip
        results.runs.append(
            RunRecord("swarm", repeat, "gateway", True, "product_hit", 16, 0.0, half)
        )
    page = report.render(results)
    section = page[page.index("## Across hosts") :]
    assert section.startswith("## Across hosts: Swarm vs compose")
    # docker ran at 0.8 of the recorded run, swarm at 0.5: swarm / compose 0.62.
    assert "| product_hit | 3,391 | 2,119 | 0.62 |" in section


def test_calibration_and_cpu_ratios_are_reported_with_the_baseline(tmp_path: Path) -> None:
    closed = parse((FIXTURES / "wrk_closed_hit.txt").read_text())
    results = _results(tmp_path)
    # The local gateway run is profiled at 60 µs of gateway CPU (see _results).
    for repeat in (1, 2):
        for path, scale, profile in (
            ("nginx", 1.0, {"nginx": 20.0, "product": 40.0}),
            ("product-direct", 0.85, {"product": 40.0}),
            ("calibration", 1.0, {"calibration": 32.0}),
        ):
            shrunk = type(closed)(
                requests=int(closed.requests * scale), duration_s=closed.duration_s,
                latency=closed.latency, errors=closed.errors,
            )  # fmt: skip
            results.runs.append(
                RunRecord("local", repeat, path, False, "product_hit", 16, 0.0, shrunk, profile)
            )
    summaries = summarize(results.runs)
    by_name = {r.name: r for r in ratios(summaries, 16) + cpu_ratios(summaries, 16)}
    calibration = by_name["product direct / trivial aiohttp (local)"]
    assert calibration.value == pytest.approx(0.85, abs=0.01) and calibration.met is True
    cpu = by_name["gateway CPU / nginx CPU per request (local)"]
    assert cpu.value == 3.0 and cpu.met is False  # a ceiling: 60 µs against nginx's 20
    assert by_name["product CPU / trivial aiohttp CPU per request (local)"].value == 1.25

    baseline = tmp_path / "before"
    earlier = _results(baseline)
    for run in earlier.runs:
        if run.cpu_us:
            run.cpu_us["gateway"] = 80.0
    earlier.save()
    results.meta["baseline"] = baseline_of(Results.load(earlier.path), "the earlier run")
    report = render(results)
    assert "| gateway | 80.0 → 60.0 | 80.0 → 60.0 | 80.0 → 60.0 |" in report
    assert (
        "| gateway CPU / nginx CPU per request (local) | 3.00× [3.00–3.00] | ≤ 2.50× | missed |"
        in report
    )
    assert "| calibration | calibration | 32.0 |" in report


@pytest.mark.parametrize(
    ("value", "met", "cell", "verdict"),
    [
        (1.04, True, "1.00× ±5% | met", "met"),
        (0.96, True, "1.00× ±5% | met", "met"),
        (1.08, False, "1.00× ±5% | missed", "off by 8%, allowed 5%"),
        (0.91, False, "1.00× ±5% | missed", "off by 9%, allowed 5%"),
    ],
)
def test_a_two_sided_target_fails_above_as_well_as_below(
    value: float, met: bool, cell: str, verdict: str
) -> None:
    """docker:single must cost what docker tiered costs, not merely no more."""
    from shopnet.bench.aggregate import Ratio

    r = Ratio("docker:single / docker (tiered)", "a", "b", value, within=0.05)
    assert r.met is met and r.miss == verdict
    assert report._ratio_row(r) == f"| docker:single / docker (tiered) | {value:.2f}× | {cell} |"


def test_a_run_that_stopped_early_says_how_many_repeats_it_measured(tmp_path: Path) -> None:
    results = _results(tmp_path)
    results.runs = [run for run in results.runs if run.repeat == 1]
    assert "1 (of 2 planned: the run stopped early) interleaved repeat(s)" in render(results)
    assert "2 interleaved repeat(s)" in render(_results(tmp_path))


def test_a_wiring_ratio_whose_interval_straddles_its_target_is_cant_tell(tmp_path: Path) -> None:
    """Noise that could put the figure either side of the target gives no verdict."""
    results = _results(tmp_path)
    # netns 0.85× and 1.05× local in its two repeats: the interval straddles 0.95.
    scaled = {1: 0.85, 2: 1.05}
    results.runs = [
        dataclasses.replace(
            run,
            result=dataclasses.replace(
                run.result, requests=round(run.result.requests * scaled[run.repeat])
            ),
        )
        if run.mode == "netns"
        else run
        for run in results.runs
    ]
    report = render(results)
    row = next(line for line in report.splitlines() if line.startswith("| netns / local |"))
    assert row.endswith("| ≥ 0.95× | can't tell |"), row
    assert "coefficient of variation" in report


def test_capacity_at_the_latency_target_is_the_headline(tmp_path: Path) -> None:
    results = _results(tmp_path)
    results.meta["capacity"] = [
        {"mode": mode, "repeat": repeat, "path": "gateway", "main": True, "workload": workload,
         "rate": rate + repeat * 100, "target_ms": 10.0, "ceiling": 9000, "probes": []}
        for mode, rate in (("local", 5000), ("docker", 4000))
        for repeat in (1, 2)
        for workload in ("product_hit", "order_create")
    ]  # fmt: skip
    report = render(results)
    headline = report.index("## What each wiring carries at p99 ≤ 10 ms")
    assert headline < report.index("## Comparison analysis")
    assert "| local | gateway | 5,150 [5,100–5,200] | 5,150 [5,100–5,200] |" in report
    assert "| docker | gateway | 4,150 [4,100–4,200] |" in report


def test_a_path_that_carries_nothing_says_how_far_its_floor_is(tmp_path: Path) -> None:
    results = _results(tmp_path)
    results.meta["capacity"] = [
        {"mode": "local", "repeat": repeat, "path": "gateway", "main": True,
         "workload": workload, "rate": 5000 if workload == "product_hit" else 0,
         "target_ms": 10.0, "ceiling": 300,
         "probes": [{"rate": rate, "achieved": rate, "p99_ms": 11.0 + repeat, "failed": 0,
                     "passed": False} for rate in (150, 5)]}
        for repeat in (1, 2)
        for workload in ("product_hit", "order_create")
    ]  # fmt: skip
    report = render(results)
    row = (
        "| local | gateway | 5,000 [5,000–5,000] | none: p99 12.5 ms [12.0–13.0] even at 5 req/s |"
    )
    assert row in report
