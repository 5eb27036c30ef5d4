"""The ladder's report from known samples, and its section in docs/comparison.md."""

from __future__ import annotations

import json
from pathlib import Path

from shopnet.bench.ladder import HEADING, publish
from shopnet.bench.ladder.report import render
from shopnet.chaos import publish as chaos_publish


def _data() -> dict:
    rows = [
        {"name": "loopback", "base": None, "what": "lo"},
        {"name": "veth", "base": "loopback", "what": "a veth pair"},
        {"name": "swarm overlay", "base": "VXLAN", "what": "x", "skipped": "not built yet"},
    ]
    samples = []
    for repeat, (lo, ve) in enumerate(((10.0, 12.0), (11.0, 13.0), (12.0, 14.0)), 1):
        for row, cpu in (("loopback", lo), ("veth", ve)):
            samples.append({
                "row": row, "repeat": repeat, "p50_us": cpu - 3, "p99_us": cpu * 2,
                "avg_us": cpu, "transactions_per_s": 1e6 / cpu, "cpu_us": cpu,
                "kernel_us": cpu - 1, "gbps": 10.0, "helpers": 0,
            })  # fmt: skip
    return {
        "options": {"repeats": 3, "ping_s": 1.5, "iperf_s": 1, "quick": True},
        "machine": {"kernel": "6.1", "cores": 2, "cpu": "x", "mitigations": {}},
        "load_before": {"loadavg_1m": 0.1, "busy_share": 0.0, "cores": 2},
        "rows": rows,
        "samples": samples,
    }


def test_each_row_gives_its_medians_intervals_and_what_it_adds() -> None:
    text = render(_data())
    veth = next(line for line in text.splitlines() if line.startswith("| veth |"))
    # CPU medians 13 vs 11 µs: adds +2.0, the interval over three repeats each [0…4].
    assert "| veth | loopback | 10.0 [9.0–11.0] |" in veth
    assert "| 13.0 [12.0–14.0] | 12.0 | 0.0 | +2.0 [+0.0…+4.0] | +2.0 [+0.0…+4.0] |" in veth
    assert "| swarm overlay | VXLAN | – |" in text and "not built yet" in text
    assert "kubernetes/kubernetes#24876" in text and "NSDI'19" in text


def test_the_ladder_section_is_published_and_kept(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "ladder.json").write_text(json.dumps(_data()))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "comparison.md").write_text("# t\n\nfigures\n\n## Charts\n\n![c](c.png)\n")
    page = publish(run, docs).read_text()
    assert page.index(HEADING) < page.index("## Charts")
    assert "![CPU per transaction and p50 round trip per row](comparison/ladder/ladder.png)" in page
    assert (docs / "comparison" / "ladder" / "ladder.png").read_bytes()[:4] == b"\x89PNG"
    regenerated = "# t\n\nnew figures\n\n## Charts\n\n![c](c.png)\n"
    kept = chaos_publish.keep(page, regenerated, HEADING)
    assert "new figures" in kept and "| veth | loopback |" in kept
