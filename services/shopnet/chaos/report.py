"""A chaos run as a text table, Markdown and JSON (the PNG is chart.py's)."""

from __future__ import annotations

import json
from pathlib import Path

from shopnet.chaos.results import ScenarioResult

HEADERS = (
    "scenario", "mode", "requests", "failed by the fault", "expected answers",
    "first ok after", "back within 10%",
    "healthy after", "orders acked", "lost", "duplicated",
)  # fmt: skip
NOTE = (
    "failed by the fault: requests the fault broke over the whole run — 5xx, resets and "
    "refused connections, timeouts (5 s), and any other answer the workload does not expect; "
    "expected answers: the workload's rightful refusals, 404 (a deleted product), 409 (no "
    "stock left) and 422 (an unknown product), which a healthy stack gives too; first ok after: from the fault to the first success of a request sent "
    "after it; back within 10%: from the fault's end (a kill's moment, or when the netem "
    "fault was lifted) until two 1 s buckets in a row reach 90% of the throughput before the "
    "fault; healthy after: from the end of the load until `status` shows every instance "
    "ready (one `status` call included: ~2.5 s in docker mode, which asks Docker for "
    "stats); lost/duplicated: acknowledged orders missing afterwards / stored twice."
)


def _seconds(value: float | None) -> str:
    return "not in the run" if value is None else f"{value:.1f} s"


def _expected(r: ScenarioResult) -> str:
    found = r.expected
    if not found:
        return "0"
    return f"{sum(found.values()):,} (" + ", ".join(f"{n:,} × {c}" for c, n in found.items()) + ")"


def row(r: ScenarioResult) -> tuple[str, ...]:
    return (
        r.scenario, r.mode, f"{r.requests:,}", f"{r.fault_failed:,} ({r.fault_failed_pct:.1f}%)",
        _expected(r),
        _seconds(r.first_success_s), _seconds(r.back_within_10pct_s),
        f"{r.healthy_after_s:.1f} s", f"{r.orders_acked:,}", str(r.orders_lost),
        str(r.orders_duplicated),
    )  # fmt: skip


def ordered(results: list[ScenarioResult]) -> list[ScenarioResult]:
    """Grouped by scenario (in the order first run), modes side by side."""
    names = list(dict.fromkeys(r.scenario for r in results))
    modes = ["local", "netns", "docker"]
    return sorted(
        results,
        key=lambda r: (names.index(r.scenario), modes.index(r.mode) if r.mode in modes else 9),
    )


def text_table(results: list[ScenarioResult]) -> str:
    table = [HEADERS, *(row(r) for r in ordered(results))]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    return "".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() + "\n"
        for line in table
    )


def markdown_table(results: list[ScenarioResult]) -> str:
    lines = [
        "| " + " | ".join(HEADERS) + " |",
        "|---|---|" + "---:|" * (len(HEADERS) - 2),
    ]
    lines += ["| " + " | ".join(row(r)) + " |" for r in ordered(results)]
    return "\n".join(lines) + "\n"


def markdown(results: list[ScenarioResult], *, chart: str | None) -> str:
    faults = "\n".join(
        f"- **{r.scenario}** ({r.mode}): {r.what} — {r.injected.splitlines()[0]}; "
        f"{r.baseline_rps:.0f} req/s before; answers {r.statuses}"
        for r in ordered(results)
    )
    parts = ["# shopnet chaos", "", markdown_table(results), NOTE, "", faults, ""]
    if chart:
        parts += [f"![throughput and errors per scenario, the fault marked]({chart})", ""]
    return "\n".join(parts)


def write(results: list[ScenarioResult], directory: Path, *, chart: str | None) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"json": directory / "results.json", "report": directory / "report.md"}
    paths["json"].write_text(to_json(results))
    paths["report"].write_text(markdown(results, chart=chart))
    return paths


def to_json(results: list[ScenarioResult]) -> str:
    return json.dumps({"scenarios": [r.as_dict() for r in results]}, indent=2) + "\n"


def load(path: Path) -> list[ScenarioResult]:
    return [ScenarioResult.from_dict(d) for d in json.loads(path.read_text())["scenarios"]]
