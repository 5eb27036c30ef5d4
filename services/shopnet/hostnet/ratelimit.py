"""A bandwidth limit on a tier: a token bucket (tc tbf) on both ends of each of its veths.

This kernel has no netem, but it has TBF (and HTB): a tbf root qdisc on an interface
lets out at most `rate` bits per second, in bursts of at most `burst` bytes, and
drops what would wait longer than `latency`. Like netem (see netem.py) we put it on
both veth ends — the host end's egress is traffic *to* the instance, the inner end's
traffic *from* it — so each instance of the tier gets `rate` in each direction.
TBF rather than HTB: one class, nothing to classify, one qdisc to remove. The qdiscs
live on our veths, so they vanish with them in `down`; `netem --clear` removes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shopnet.errors import ConfigError

KINDS = ("netem", "tbf")
"""Root qdisc kinds `netem` puts on a tier's links, and `--clear` removes."""
LATENCY_MS = 50
"""How long a packet may queue before TBF drops it: a shallow queue, like a real link."""
MIN_BURST_BYTES = 16_000
"""At least ~10 full-size frames: smaller buckets starve TCP at low rates."""

_UNITS = {"bit": 1, "kbit": 1_000, "mbit": 1_000_000, "gbit": 1_000_000_000}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?bit)\s*$", re.IGNORECASE)
MIN_BPS, MAX_BPS = 8_000, 10_000_000_000
"""tbf's rate field (bytes per second) is 32 bits wide without TCA_TBF_RATE64."""


@dataclass(frozen=True, slots=True)
class Rate:
    """A bandwidth limit, in bits per second."""

    bps: int

    def __post_init__(self) -> None:
        if not MIN_BPS <= self.bps <= MAX_BPS:
            raise ConfigError(f"rate {self.bps} bit/s is out of range (8kbit to 10gbit)")

    @classmethod
    def parse(cls, text: str) -> Rate:
        """`10mbit`, `512kbit`, `1.5gbit`, `64000bit` (tc's decimal units)."""
        match = _RATE.match(text)
        if match is None:
            raise ConfigError(
                f"--rate {text!r}: expected a number with a unit, e.g. 10mbit, 512kbit, 1gbit"
            )
        return cls(round(float(match[1]) * _UNITS[match[2].lower()]))

    @property
    def burst_bytes(self) -> int:
        """10 ms at the rate, and never less than MIN_BURST_BYTES."""
        return max(self.bps // 8 // 100, MIN_BURST_BYTES)

    def tc_args(self) -> list[str]:
        """The tbf parameters as `tc qdisc … tbf` takes them."""
        return [
            "rate", f"{self.bps}bit", "burst", str(self.burst_bytes),
            "latency", f"{LATENCY_MS}ms",
        ]  # fmt: skip

    @property
    def bytes_per_second(self) -> int:
        return self.bps // 8

    def describe(self) -> str:
        for unit in ("gbit", "mbit", "kbit"):
            if self.bps >= _UNITS[unit]:
                return f"{self.bps / _UNITS[unit]:g} {unit}/s"
        return f"{self.bps} bit/s"


RATE_WITH_NETEM = (
    "--rate cannot be combined with netem's delay or loss here: both would be the links' "
    "root qdisc (apply them one after the other: the later replaces the earlier)"
)


def check_combination(*, delay_ms: float, loss_pct: float, rate: Rate | None, netem: bool) -> None:
    """A rate needs tbf at the root; with netem in the kernel, delay and loss need netem there."""
    if rate is not None and (delay_ms or (loss_pct and netem)):
        raise ConfigError(RATE_WITH_NETEM)
