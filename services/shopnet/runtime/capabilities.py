"""What a driver can do beyond the life cycle, as small protocols a caller tests for.

`Driver` (shopnet.runtime.base) is the life cycle every mode has: up, down, status,
exec, logs. Diagnostics, data operations and the bench's hooks are protocols here; a
driver has one by implementing its methods (no registration), and a caller asks with
`isinstance(driver, Protocol)` instead of by mode name, so a new mode gets each
feature by implementing it, and loses nothing by not.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from shopnet.errors import ConfigError

if TYPE_CHECKING:
    from shopnet.hostnet.ratelimit import Rate  # an annotation only: runtime imports no hostnet
    from shopnet.runtime.base import EntryPoint, InstanceStatus
    from shopnet.runtime.process import ProcessSpec

# -- diagnostics -------------------------------------------------------------


@runtime_checkable
class TierShaping(Protocol):
    """`shopnet netem`, chaos' tier faults: impair a tier's links (netns, docker)."""

    def netem(
        self, tier: str, *, delay_ms: float, loss_pct: float, clear: bool, rate: Rate | None = None
    ) -> str:
        """Delay and loss (netem, or nftables without it) and/or a rate (tbf) on a tier's links."""
        ...


@runtime_checkable
class TierCapture(Protocol):
    """`shopnet capture`: tcpdump on a tier's links into a pcap (netns, docker)."""

    def capture(
        self, tier: str, *, count: int | None, seconds: float | None, output: Path
    ) -> str: ...


@runtime_checkable
class IsolationProbe(Protocol):
    """`shopnet isolation`: every flow of the topology's matrix tried on the running stack."""

    def isolation(self) -> tuple[str, bool]:
        """(printable matrix, all as expected)."""
        ...


@runtime_checkable
class ContainerEngine(Protocol):
    """Instances run in containers of an engine (docker, swarm): how to reach one."""

    def engine_argv(self, container: str) -> list[str]:
        """`docker` with the options that reach the engine running `container`."""
        ...


@runtime_checkable
class TierSegments(Protocol):
    """What each tier is in this mode (a bridge, a Docker network, nothing), for pictures."""

    def tier_segments(self) -> dict[str, str]:
        """Tier name → e.g. `br-frontend · 10.10.1.0/24`."""
        ...


@runtime_checkable
class NftablesFirewall(Protocol):
    """The mode's firewall is an nftables table of ours whose rules count (netns)."""

    def firewall_table(self) -> str:
        """The `inet` table's name (per simulated host: `<name>-host<k>` namespaces)."""
        ...


# -- data --------------------------------------------------------------------


@runtime_checkable
class Backups(Protocol):
    """`shopnet backup` / `restore`: the durable datastores' data, to a file and back."""

    def backup(self, path: Path) -> str: ...

    def restore(self, path: Path) -> str: ...


@runtime_checkable
class CacheFlushing(Protocol):
    """The bench's cache-miss runs: drop every cache user's keys while they run."""

    def cache_flusher(
        self, rows: list[InstanceStatus]
    ) -> contextlib.AbstractContextManager[Callable[[], None] | None]:
        """A call that drops every cache user's keys (what a restore flushes, never
        FLUSHALL), errors ignored; None without a cache (`rows`: the stack's status)."""
        ...


# -- the bench's hooks -------------------------------------------------------


@runtime_checkable
class EntryPoints(Protocol):
    """Ways into the running stack worth measuring beyond the gateway's published URL."""

    def entry_points(self, rows: list[InstanceStatus]) -> list[EntryPoint]:
        """Main first (`rows`: the stack's status)."""
        ...


@runtime_checkable
class HelperProcesses(Protocol):
    """The bench's nginx peer and calibration handler, started where an instance runs."""

    def peer_port(self) -> int | None:
        """Port of the nginx peer beside gateway-1 (the next one: calibration); None: none."""
        ...

    def run_beside(self, instance: str, spec: ProcessSpec) -> int:
        """Start a helper process where `instance` runs; `down` stops it. Its pid."""
        ...


NO_TIER_LINKS = "it has no tier links on this host"


def unavailable(mode: str, verb: str, why: str = NO_TIER_LINKS) -> ConfigError:
    """The one-line error for a verb the mode's driver does not implement."""
    return ConfigError(f"{verb} is not available in {mode} mode ({why})")


def no_isolation(mode: str) -> ConfigError:
    return ConfigError(f"{mode} mode has no network isolation to check")
