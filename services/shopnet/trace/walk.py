"""A traced probe as data: the passes through each namespace, the NAT, the end, the verdict."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class End(enum.StrEnum):
    DELIVERED = "delivered"
    """A listening socket accepted the connection (SYN → SYN-ACK → ACK)."""
    REFUSED = "refused"
    """The target answered RST: nothing listens on the port."""
    DROPPED = "dropped"
    """No answer: a rule or the kernel dropped it on the way."""
    NO_ROUTE = "no route"
    """connect() failed in the source namespace: nothing was sent."""


@dataclass(frozen=True, slots=True)
class RuleHit:
    chain: str
    """`inet shopnet testbed`: the chain the rule is in (a jump target included)."""
    rule: str
    verdict: str


@dataclass(frozen=True, slots=True)
class Hook:
    """One base chain the packet passed, with the rules that matched it."""

    hook: str
    """prerouting, input, forward, output, postrouting."""
    chain: str
    """`ip nat PREROUTING`, `inet shopnet forward`."""
    rules: tuple[RuleHit, ...]
    verdict: str
    """accept, drop (or `policy accept`)."""


@dataclass(frozen=True, slots=True)
class Pass:
    """One packet crossing one namespace."""

    place: str
    direction: str
    """request or reply."""
    packet: str
    """`10.213.0.10:40522 → 10.213.1.10:3001 [syn]` as the first hook saw it."""
    interfaces: tuple[str, ...]
    """`in eth0 (…)`, `out sn-product-1 (…)`."""
    hooks: tuple[Hook, ...]
    route: str | None = None
    """The route the namespace used (`ip route get`), where it routed the packet."""


@dataclass(frozen=True, slots=True)
class Walk:
    source: str
    target: str
    port: int
    mode: str
    connect: str
    """Where the probe connected, `address:port`."""
    probe: str
    """The probe's own address and port."""
    passes: tuple[Pass, ...]
    nat: tuple[str, ...]
    end: End
    end_detail: str
    drops: tuple[str, ...] = ()
    """Kernel drop reasons matched to the probe, and how."""
    notes: tuple[str, ...] = ()
    verdict: str = ""
    """The last line: the end and the topology's word."""
    allowed: bool = False
    other_packets: int = 0
    """Packets of the flow traced beyond the ones shown (ACKs, FINs)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
