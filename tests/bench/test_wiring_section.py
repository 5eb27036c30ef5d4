"""The report's "Wiring as a variable" section, from summaries of each wiring's run."""

from __future__ import annotations

from shopnet.bench import wiring_section
from tests.bench.test_acrosshosts import summary


def test_each_wiring_is_set_beside_the_one_it_varies() -> None:
    runs = [
        summary("local", 10000, 5.0, {"kernel softirq": 20.0, "total": 300.0}),
        summary("netns", 8000, 6.0, {"kernel softirq": 45.0, "total": 360.0}),
        summary("netns:attached", 9600, 5.5, {"kernel softirq": 38.0, "total": 330.0}),
        summary("docker", 9000, 6.0, {"kernel softirq": 40.0, "total": 340.0}),
        summary("docker:single", 9100, 6.0, {"kernel softirq": 40.0, "total": 338.0}),
    ]
    matrices = {
        "docker:single": {"text": "gateway-1 -> postgres-1:5432  open (shared network)", "ok": True}
    }
    text = "\n".join(wiring_section.lines(runs, 64, matrices))
    assert text.startswith("## Wiring as a variable")
    assert (
        "| netns:attached vs netns | a leg per tier talked to, no host routing between tiers "
        "| 9,600 / 8,000 | 1.20× | 11.00 / 12.00 | 330 / 360 |" in text
    )
    assert (
        "| netns:attached vs local | the attached namespaces against loopback | 9,600 / 10,000 | 0.96× "
        in text
    )
    assert (
        "| docker:single vs docker | one app-network instead of three tier networks | 9,100 / 9,000 | 1.01× "
        in text
    )
    assert "- **netns:attached vs local**: CPU per request +30 µs (kernel softirq +18 µs)." in text
    # The isolation lesson travels with the numbers.
    assert "**docker:single** (as the topology says):" in text and "open (shared network)" in text
    # No DNS run, no row for it; no variant at all, no section.
    assert "docker:single:dns vs" not in text
    assert wiring_section.lines(runs[:2], 64, None) == []
