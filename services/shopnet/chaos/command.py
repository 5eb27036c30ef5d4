"""The `shopnet chaos` verb: its options, the run, and where the results go."""

from __future__ import annotations

import argparse
from pathlib import Path

from shopnet.chaos.scenarios import BY_NAME, choose
from shopnet.errors import DriverError
from shopnet.runtime.base import Driver
from shopnet.runtime.progress import Progress


def add_parser(sub: argparse._SubParsersAction, with_mode) -> None:
    chaos = sub.add_parser(
        "chaos", help="fault scenarios under load on the running stack; recovery measured"
    )
    with_mode(chaos)
    chaos.add_argument(
        "--scenarios", metavar="A,B", help=f"which, in order (default: all): {', '.join(BY_NAME)}"
    )
    chaos.add_argument("--seconds", type=float, default=20.0, help="load per scenario (default 20)")
    chaos.add_argument(
        "--fault-seconds", type=float, default=5.0,
        help="how long a netem fault (loss, rate) lasts (default 5)",
    )  # fmt: skip
    chaos.add_argument("--connections", type=int, default=16, help="concurrent requests (16)")
    chaos.add_argument("--json", action="store_true", help="print the results as JSON")
    chaos.add_argument(
        "-o", "--output", type=Path, metavar="DIR",
        help="results directory (default: chaos-results/<time>)",
    )  # fmt: skip
    chaos.add_argument(
        "--report", type=Path, nargs="+", metavar="RESULTS_JSON",
        help="no run: print one Markdown table of these runs' results (modes side by side)",
    )  # fmt: skip


def chaos(args: argparse.Namespace, *, driver: Driver | None, progress: Progress) -> int:
    from shopnet.chaos import chart, report, runner  # aiohttp and friends: only when used

    if args.report:
        results = [r for path in args.report for r in report.load(path)]
        print(report.markdown_table(results), end="")
        return 0
    assert driver is not None
    scenarios = choose(args.scenarios)
    options = runner.ChaosOptions(
        seconds=args.seconds, fault_s=args.fault_seconds, connections=args.connections
    )
    run_id = runner.run_id()
    output = args.output or Path("chaos-results") / run_id
    results = []
    for scenario in scenarios:
        results.append(runner.run(driver, scenario, options, run_id=run_id, progress=progress))
    chart_name = None
    if chart.available():
        output.mkdir(parents=True, exist_ok=True)
        chart.timeline(results, output / chart.NAME)
        chart_name = chart.NAME
    else:
        progress.warn(chart.NO_MATPLOTLIB)
    paths = report.write(results, output, chart=chart_name)
    print(report.to_json(results) if args.json else report.text_table(results), end="")
    progress.info(f"chaos: results in {paths['report'].parent}")
    if broken := [r for r in results if not r.holds]:
        raise DriverError(
            "acknowledged orders were lost or duplicated in "
            + ", ".join(f"{r.scenario} ({r.orders_lost} lost, {r.orders_duplicated} duplicated)"
                        for r in broken)
        )  # fmt: skip
    return 0
