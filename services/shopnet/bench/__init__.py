"""`shopnet bench`: local vs netns vs docker, measured with wrk, reported with figures."""

from __future__ import annotations

from pathlib import Path

from shopnet.bench.aggregate import summarize
from shopnet.bench.results import Results


def write_outputs(results: Results) -> dict[str, Path]:
    """report.md and charts/*.png next to results.json."""
    from shopnet.bench import charts, report

    summaries = summarize(results.runs)
    connections = int(results.meta.get("options", {}).get("connections", 64))
    paths = {
        "results": results.path,
        "report": results.directory / "report.md",
        "throughput": results.directory / "charts" / "throughput.png",
        "latency": results.directory / "charts" / "latency_vs_connections.png",
    }
    paths["report"].write_text(report.render(results))
    charts.throughput(summaries, connections, paths["throughput"])
    charts.latency_vs_connections(summaries, paths["latency"])
    return paths
