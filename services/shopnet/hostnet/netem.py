"""Delay and loss on a tier: what both modes mean by it, and whether this kernel can do it.

Both modes put a netem qdisc on both ends of each of the tier's veth pairs (the
host end's egress is traffic *to* an instance, the inner end's traffic *from*
it), so every packet into or out of an instance waits the delay and the loss
applies in each direction. Without netem in the kernel, loss alone falls back
to nftables (lossfilter.py); delay cannot.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

from shopnet.errors import ConfigError

NO_NETEM = (
    "this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM is not set and no sch_netem "
    "module is installed): use a kernel that has it to emulate delay (loss alone works "
    "without it)"
)


@dataclass(frozen=True, slots=True)
class Impairment:
    """What a tier's links do to packets."""

    delay_ms: float = 0.0
    loss_pct: float = 0.0
    jitter_ms: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.delay_ms <= 60_000:
            raise ConfigError(f"delay {self.delay_ms} ms is out of range (0 to 60000)")
        if not 0 <= self.jitter_ms <= self.delay_ms:
            raise ConfigError("jitter must be between 0 and the delay")
        if not 0 <= self.loss_pct <= 100:
            raise ConfigError(f"loss {self.loss_pct}% is out of range (0 to 100)")

    def describe(self) -> str:
        jitter = f" ± {self.jitter_ms:g} ms" if self.jitter_ms else ""
        return f"delay {self.delay_ms:g} ms{jitter}, loss {self.loss_pct:g}% per direction"


def kernel_support() -> str | None:
    """None if netem looks available, else why not (from the kernel config or modules)."""
    if Path("/sys/module/sch_netem").exists():
        return None
    try:
        config = gzip.decompress(Path("/proc/config.gz").read_bytes()).decode()
    except OSError:
        return None  # unknown: let the kernel answer
    if "CONFIG_NET_SCH_NETEM=y" in config:
        return None
    if "CONFIG_NET_SCH_NETEM=m" in config:
        release = Path("/proc/sys/kernel/osrelease").read_text().strip()
        if list(Path("/lib/modules", release).glob("**/sch_netem.ko*")):
            return None
    return NO_NETEM
