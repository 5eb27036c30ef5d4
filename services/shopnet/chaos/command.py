"""The `shopnet chaos` verb: its options, the run, and where the results go."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from shopnet.chaos.results import ScenarioResult
from shopnet.chaos.scenarios import BY_NAME, choose
from shopnet.errors import ConfigError, DriverError
from shopnet.runtime.base import Driver
from shopnet.runtime.capabilities import TierShaping
from shopnet.runtime.progress import Progress


def add_parser(
    new_verb: Callable[..., argparse.ArgumentParser],
    with_mode: Callable[[argparse.ArgumentParser], None],
) -> None:
    chaos = new_verb(
        "chaos", help="fault scenarios under load on the running stack; recovery measured"
    )
    with_mode(chaos)
    chaos.add_argument(
        "--scenarios", metavar="A,B", help=f"which, in order (default: all): {', '.join(BY_NAME)}"
    )
    chaos.add_argument("--seconds", type=float, default=20.0, help="load per scenario (default 20)")
    chaos.add_argument(
        "--fault-seconds", type=float, default=None,
        help="how long a netem fault (loss, rate) lasts (default 5, at most half of --seconds)",
    )  # fmt: skip
    chaos.add_argument("--connections", type=int, default=16, help="concurrent requests (16)")
    chaos.add_argument("--json", action="store_true", help="print the results as JSON")
    chaos.add_argument(
        "-o", "--output", type=Path, metavar="DIR",
        help="results directory (default: chaos-results/<time>)",
    )  # fmt: skip
    chaos.add_argument(
        "--publish", type=Path, nargs="+", metavar="RUN_DIR",
        help="no run: write docs/comparison.md's Recovery section from these runs (one per mode)",
    )  # fmt: skip
    chaos.add_argument(
        "--report", type=Path, nargs="+", metavar="RESULTS_JSON",
        help="no run: print one Markdown table of these runs' results (modes side by side)",
    )  # fmt: skip


def chaos(args: argparse.Namespace, *, driver: Driver | None, progress: Progress) -> int:
    from shopnet.chaos import report, runner  # aiohttp and friends: only when used

    if args.publish:
        from shopnet.chaos.publish import publish

        print(publish(args.publish, Path("docs")))
        return 0
    if args.report:
        results = [r for path in args.report for r in report.load(path)]
        print(report.markdown_table(results), end="")
        return 0
    assert driver is not None
    scenarios = choose(args.scenarios)
    if not isinstance(driver, TierShaping):  # e.g. loopback (local): no tier links to impair
        for skipped in (s for s in scenarios if s.tier):
            progress.warn(f"chaos: {skipped.name} skipped: {driver.mode} mode has no tier links")
        scenarios = tuple(s for s in scenarios if not s.tier)
        if not scenarios:
            raise ConfigError(f"none of these scenarios runs in {driver.mode} mode (no tier links)")
    options = runner.ChaosOptions(
        seconds=args.seconds,
        fault_s=args.fault_seconds or min(5.0, args.seconds / 2),
        connections=args.connections,
    )
    run_id = runner.run_id()
    output = args.output or Path("chaos-results") / run_id
    results = []
    try:
        for scenario in scenarios:
            results.append(runner.run(driver, scenario, options, run_id=run_id, progress=progress))
    finally:
        if results:  # what was measured before a failure or ^C still gets written
            _write(results, output, as_json=args.json, progress=progress)
    if broken := [r for r in results if not r.holds]:
        raise DriverError(
            "acknowledged orders were lost or duplicated in "
            + ", ".join(f"{r.scenario} ({r.orders_lost} lost, {r.orders_duplicated} duplicated)"
                        for r in broken)
        )  # fmt: skip
    return 0


def _write(
    results: list[ScenarioResult], output: Path, *, as_json: bool, progress: Progress
) -> None:
    from shopnet.chaos import chart, report

    chart_name = None
    if chart.available():
        output.mkdir(parents=True, exist_ok=True)
        chart.timeline(results, output / chart.NAME)
        chart_name = chart.NAME
    else:
        progress.warn(chart.NO_MATPLOTLIB)
    paths = report.write(results, output, chart=chart_name)
    print(report.to_json(results) if as_json else report.text_table(results), end="")
    progress.info(f"chaos: results in {paths['report'].parent}")
