"""The model: a mode's CPU per request = the application's own + the hops its legs cross.

A main-path cache hit is three TCP exchanges (legs): the client to the gateway, the
gateway to a product instance, the product to Redis. Each mode's wiring decides which
primitive each leg crosses (LEGS, from the topology and the wirings: README, "Wiring as a
variable"); the ladder prices each primitive as CPU µs per transaction over loopback's.
The prediction is local mode's measured CPU per request (everything on loopback: the
application's own cost) plus, per leg, what its primitive adds over loopback. Where the
prediction and the measurement differ by more than 10 %, the hops do not explain the
mode's cost and something else does (the report says so).

A leg's exchange is not a 14-byte ping-pong: an HTTP request and answer carry a few
hundred bytes and may need more segments and acknowledgements, so the model is a lower
bound of what the hops cost, not an identity.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from shopnet.bench.cpu import SYSTEM

CLOSES_WITHIN = 0.10
FINDINGS_HEADING = "## Where attached's extra CPU goes, measured"
"""docs/comparison.md's hand-written section on the model's gap: kept by `--publish`."""

Leg = str | tuple[str, ...]
"""The ladder row a leg crosses, or the rows its requests spread over evenly (round-robin
over instances placed apart: each row priced for its share)."""

_SPLIT = ("docker network", "swarm overlay")
"""Swarm's inner legs: one product replica per node, Redis on node 1 (docs/swarm.md), so
half of gateway→product and of product→Redis stays on node 1's overlay — a bridge in the
overlay's namespace, priced by the docker network row — and half crosses the VXLAN overlay
to node 2."""

LEGS: dict[str, tuple[Leg, Leg, Leg]] = {
    "local": ("loopback", "loopback", "loopback"),
    "netns": ("host-port DNAT", "routed + nftables", "routed + nftables"),
    # Attached: every allowed connection is on-link, bridged, and br_netfilter passes it
    # through the inet forward hook and conntrack (the bridge + nftables row; a ladder run
    # without that row falls back to the bare bridge, its floor: FALLBACK).
    "netns:attached": ("host-port DNAT", "bridge + nftables", "bridge + nftables"),
    "docker": ("published port (DNAT)", "docker network", "docker network"),
    "docker:single": ("published port (DNAT)", "docker network", "docker network"),
    "docker:single:dns": ("published port (DNAT)", "docker network", "docker network"),
    "netns:routed:hosts2": ("host-port DNAT", "VXLAN", "routed + nftables"),
    "swarm": ("published port (DNAT)", _SPLIT, _SPLIT),
}
"""mode → the ladder row each main-path leg crosses (client→gateway, gateway→product,
product→Redis)."""
FALLBACK = {"bridge + nftables": "bridge"}
"""A row older ladder runs lack → the row priced in its place (a floor, said so)."""


@dataclass(frozen=True, slots=True)
class Prediction:
    mode: str
    legs: tuple[Leg, Leg, Leg]
    hops_us: float
    """What the legs add over loopback, from the ladder."""
    predicted_us: float
    measured_us: float
    over_local: tuple[tuple[str, float], ...] = ()
    """Where the mode's measured CPU exceeds local's, by component (system parts
    included): what a gap between prediction and measurement is made of."""

    @property
    def error(self) -> float:
        return self.predicted_us / self.measured_us - 1 if self.measured_us else 0.0

    @property
    def closes(self) -> bool:
        return abs(self.error) <= CLOSES_WITHIN


def row_cpu(ladder: dict[str, Any]) -> dict[str, float]:
    """Median CPU µs per transaction of each measured ladder row, its softirq counted once.

    A probe's schedstat includes the softirq work run on its stack, and on a kernel without
    IRQ time accounting (this one: tick-based) /proc/stat's softirq column counts that same
    time again; on the ladder's veths nearly all of it runs there (net:netif_receive_skb:
    99.5 % in a process's context, docs/comparison.md), so the sample's cpu_us holds it
    twice. The mode's side (the machine's busy time) holds it once: so does this.
    """
    found: dict[str, list[float]] = {}
    for sample in ladder.get("samples", []):
        once = float(sample["cpu_us"]) - float(sample.get("softirq_us", 0.0))
        found.setdefault(sample["row"], []).append(once)
    return {row: statistics.median(values) for row, values in found.items()}


def _rows(leg: Leg) -> tuple[str, ...]:
    return (leg,) if isinstance(leg, str) else leg


def _priced(legs: tuple[Leg, Leg, Leg], cpu: dict[str, float]) -> tuple[Leg, Leg, Leg] | None:
    """The rows that price `legs` in this ladder run (FALLBACK for a missing one), or None."""

    def row(name: str) -> str:
        return name if name in cpu else FALLBACK.get(name, name)

    def priced(leg: Leg) -> Leg:
        return row(leg) if isinstance(leg, str) else tuple(row(name) for name in leg)

    found = (priced(legs[0]), priced(legs[1]), priced(legs[2]))
    return found if all(name in cpu for leg in found for name in _rows(leg)) else None


def _added(leg: Leg, cpu: dict[str, float]) -> float:
    """What a leg adds over loopback: its row's, or the mean of the rows it spreads over."""
    rows = _rows(leg)
    return sum(cpu[name] - cpu["loopback"] for name in rows) / len(rows)


def leg_text(leg: Leg) -> str:
    rows = _rows(leg)
    share = "" if len(rows) == 1 else ("½ " if len(rows) == 2 else f"1/{len(rows)} ")
    return " + ".join(share + name for name in rows)


def over_local(profile: dict[str, float], local: dict[str, float]) -> tuple[tuple[str, float], ...]:
    """Components (and system parts) the mode spends more on than local, largest first."""
    grew = [
        (name, round(value - local.get(name, 0.0), 1))
        for name, value in profile.items()
        if name not in ("total", "other")
    ]
    return tuple(sorted((g for g in grew if g[1] >= 0.5), key=lambda g: -g[1]))


def predict(
    ladder: dict[str, Any],
    measured: dict[str, float],
    profiles: dict[str, dict[str, float]] | None = None,
) -> list[Prediction]:
    """`measured`: mode → CPU µs per request of the whole machine (the profile's total);
    `profiles`: mode → its CPU profile by component, to say what a gap is made of."""
    cpu = row_cpu(ladder)
    base = measured.get("local")
    if base is None or "loopback" not in cpu:
        return []
    profiles = profiles or {}
    out = []
    for mode, wanted in LEGS.items():
        legs = _priced(wanted, cpu)
        if mode not in measured or legs is None:
            continue
        hops = sum(_added(leg, cpu) for leg in legs)
        grew = over_local(profiles.get(mode, {}), profiles.get("local", {}))
        out.append(
            Prediction(mode, legs, round(hops, 1), round(base + hops, 1), measured[mode], grew)
        )
    return out


def _gap_line(p: Prediction) -> str:
    """One mode's gap, by component: what the mode spends over local that the hops do not
    price (a component's system part, `gateway system`, is shown inside it)."""
    gap = p.measured_us - p.predicted_us
    text = (
        f"- **{p.mode}**: measured {p.measured_us:.1f} µs, predicted {p.predicted_us:.1f}: "
        f"{abs(gap):.1f} µs {'more' if gap > 0 else 'less'} than its legs' rows price "
        f"({p.hops_us:+.1f} µs over local for all three)."
    )
    if not p.over_local:
        return text
    parts = dict(p.over_local)
    shown = []
    for name, value in p.over_local:
        if name.endswith(SYSTEM):
            continue
        system = parts.get(name + SYSTEM)
        inside = f" (system {system:+.1f})" if system is not None else ""
        shown.append(f"{name} {value:+.1f}{inside}")
    return text + f" Over local it spends: {', '.join(shown)} µs per request."


def lines(predictions: list[Prediction]) -> list[str]:
    if not predictions:
        return []
    out = [
        "### The model: predicted vs measured CPU per request\n",
        "Local mode's CPU per request (the application on loopback) plus what each leg's "
        "primitive adds over loopback in the ladder (client→gateway, gateway→product, "
        "product→Redis; each row's CPU without its softirq column, which the probes' own "
        f"time already holds); it closes when within {CLOSES_WITHIN:.0%} of the measurement. "
        "On a CPU-bound machine a mode's measured CPU per request is close to cores ÷ "
        "throughput, so a gap is also a throughput difference the hops do not explain.\n",
        "| mode | legs | hops add µs | predicted µs | measured µs | off by | closes |",
        "|---|---|---:|---:|---:|---:|:-:|",
    ]
    for p in predictions:
        out.append(
            f"| {p.mode} | {' / '.join(map(leg_text, p.legs))} | {p.hops_us:+.1f} "
            f"| {p.predicted_us:.1f} "
            f"| {p.measured_us:.1f} | {p.error:+.0%} | {'✓' if p.closes else '✗'} |"
        )
    fallbacks = sorted({f"{row} (for {want})" for p in predictions
                        for wanted, priced in zip(LEGS[p.mode], p.legs, strict=True)
                        for want, row in zip(_rows(wanted), _rows(priced), strict=True)
                        if row != want})  # fmt: skip
    if fallbacks:
        out.append("")
        out.append(
            f"Priced by a floor, the ladder run lacking the row itself: {', '.join(fallbacks)}."
        )
    missing = [p for p in predictions if not p.closes]
    if missing:
        out.append("")
        out.append(
            "Where it does not close, what the mode spends over local, by process tree "
            "(its system time in parentheses where the run split it) — the part the 14-byte "
            "ping-pongs do not price:\n"
        )
        out += [_gap_line(p) for p in missing]
    out.append("")
    return out
