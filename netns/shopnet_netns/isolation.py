"""The isolation matrix: every allowed flow connects, every other one does not.

Generated from the topology: for every ordered pair of instances and every port
that matters (every service and flow port), a probe expects a connection
exactly when a flow allows it. Also: the host reaches every instance
(administration), no instance opens a connection to the host, and instances of
an internal tier have no route to an outside address (198.51.100.1, TEST-NET-2:
the connect fails in the source namespace and no packet is ever sent).

Probes are real TCP connects from sockets created inside the source namespace
(a thread joins it; the socket keeps that namespace for life), all in flight
at once, so a dropped SYN costs one shared timeout, not one each. With
`Listeners` (a listening socket on every port that matters in every
namespace), an allowed connection must also arrive *from the source's own
address* — a flow that only works through NAT is reported, not passed.
"""

from __future__ import annotations

import enum
import errno
import selectors
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address

from shopnet_netns import namespaces
from shopnet_netns.listeners import Listeners, ports_that_matter
from shopnet_netns.plan import NetworkPlan

HOST = "host"
OUTSIDE = "outside"
OUTSIDE_ADDRESS = IPv4Address("198.51.100.1")
OUTSIDE_PORT = 80
BATCH = 400
"""Probes in flight at once (each holds a file descriptor)."""


class Expect(enum.StrEnum):
    CONNECT = "connect"
    BLOCKED = "blocked"
    NO_ROUTE = "no route"


class Outcome(enum.StrEnum):
    CONNECTED = "connected"
    REFUSED = "refused"
    """A RST came back: the packet reached the target (no listener there)."""
    TIMEOUT = "timeout"
    """No answer: dropped on the way."""
    UNREACHABLE = "unreachable"
    """No route (or an ICMP unreachable)."""
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Probe:
    source: str
    """Instance name, or HOST."""
    namespace: str | None
    """Where the connecting socket lives (None: the host)."""
    target: str
    """Instance name, HOST or OUTSIDE."""
    address: IPv4Address
    port: int
    expect: Expect
    seen_as: IPv4Address | None = None
    """Source address the target must see (checked against our listeners)."""

    def describe(self) -> str:
        return f"{self.source} -> {self.target}:{self.port} ({self.address})"


@dataclass(frozen=True, slots=True)
class Result:
    probe: Probe
    outcome: Outcome
    seen_from: str | None = None
    """Source address our listener saw (None: not checked or not seen)."""
    checked_source: bool = False

    @property
    def ok(self) -> bool:
        expect = self.probe.expect
        if expect is Expect.CONNECT:
            if self.outcome is not Outcome.CONNECTED:
                return False
            return not self.checked_source or self.seen_from == str(self.probe.seen_as)
        if expect is Expect.NO_ROUTE:
            return self.outcome is Outcome.UNREACHABLE
        return self.outcome in (Outcome.TIMEOUT, Outcome.UNREACHABLE)

    def describe(self) -> str:
        seen = ""
        if self.checked_source and self.probe.expect is Expect.CONNECT:
            seen = f", seen from {self.seen_from or 'nowhere'} (want {self.probe.seen_as})"
        return f"{self.probe.describe()}: {self.outcome}{seen}; expected {self.probe.expect}"


def probes(
    plan: NetworkPlan, *, every_port: bool = True, host_port: int | None = None
) -> list[Probe]:
    """The matrix for `plan`.

    `every_port=False` probes only each target's own port (for a running stack,
    where only the services listen); `host_port`, when something listens on it on
    the host's tier addresses, adds instance → host probes.
    """
    topology = plan.topology
    ports = ports_that_matter(topology)
    out: list[Probe] = []
    for dst in plan.endpoints:
        out.append(
            Probe(
                HOST,
                None,
                dst.name,
                dst.address.ip,
                dst.instance.port,
                Expect.CONNECT,
                seen_as=plan.admin_address(dst),
            )
        )
    for src in plan.endpoints:
        for dst in plan.endpoints:
            if dst is src:
                continue
            for port in ports if every_port else (dst.instance.port,):
                allowed = topology.allows(
                    src.instance.service.name, dst.instance.service.name, port
                )
                out.append(
                    Probe(
                        src.name,
                        src.namespace,
                        dst.name,
                        dst.address.ip,
                        port,
                        Expect.CONNECT if allowed else Expect.BLOCKED,
                        seen_as=src.address_on(dst.instance.tier.name),
                    )
                )
        if host_port is not None:
            host = plan.admin_address(src)
            out.append(Probe(src.name, src.namespace, HOST, host, host_port, Expect.BLOCKED))
        if src.instance.tier.internal:
            out.append(
                Probe(
                    src.name, src.namespace, OUTSIDE, OUTSIDE_ADDRESS, OUTSIDE_PORT, Expect.NO_ROUTE
                )
            )
    return out


def _outcome(code: int) -> Outcome:
    if code == 0:
        return Outcome.CONNECTED
    if code == errno.ECONNREFUSED:
        return Outcome.REFUSED
    if code in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return Outcome.UNREACHABLE
    if code == errno.ETIMEDOUT:
        return Outcome.TIMEOUT
    return Outcome.ERROR


def _sockets_for(batch: list[Probe]) -> list[socket.socket]:
    """One socket per probe, each created in its probe's source namespace."""
    made: dict[int, socket.socket] = {}
    by_namespace: dict[str | None, list[int]] = {}
    for i, probe in enumerate(batch):
        by_namespace.setdefault(probe.namespace, []).append(i)
    try:
        for namespace, indexes in by_namespace.items():

            def create(count: int = len(indexes)) -> list[socket.socket]:
                return [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]

            socks = create() if namespace is None else namespaces.run_in(namespace, create)
            made.update(zip(indexes, socks, strict=True))
    except BaseException:
        for sock in made.values():
            sock.close()
        raise
    return [made[i] for i in range(len(batch))]


def run(
    plan_probes: Iterable[Probe], *, listeners: Listeners | None = None, timeout: float = 1.5
) -> list[Result]:
    """Run the probes (in batches, all of a batch in flight at once)."""
    pending = list(plan_probes)
    results: list[Result] = []
    while pending:
        batch, pending = pending[:BATCH], pending[BATCH:]
        results += _run_batch(batch, listeners, timeout)
    return results


def _run_batch(batch: list[Probe], listeners: Listeners | None, timeout: float) -> list[Result]:
    socks = _sockets_for(batch)
    outcomes: dict[int, Outcome] = {}
    local: dict[int, tuple[str, int]] = {}
    selector = selectors.DefaultSelector()
    try:
        for i, (probe, sock) in enumerate(zip(batch, socks, strict=True)):
            sock.setblocking(False)
            code = sock.connect_ex((str(probe.address), probe.port))
            if code in (errno.EINPROGRESS, errno.EAGAIN):
                selector.register(sock, selectors.EVENT_WRITE, i)
            else:
                outcomes[i] = _outcome(code)
        deadline = time.monotonic() + timeout
        while selector.get_map() and (remaining := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(remaining):
                i = key.data
                sock = socks[i]
                outcomes[i] = _outcome(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
                selector.unregister(sock)
        for i in range(len(batch)):
            outcomes.setdefault(i, Outcome.TIMEOUT)
            if outcomes[i] is Outcome.CONNECTED:
                local[i] = socks[i].getsockname()
        return [
            _result(probe, outcomes[i], local.get(i), listeners) for i, probe in enumerate(batch)
        ]
    finally:
        selector.close()
        for sock in socks:
            sock.close()


def _result(
    probe: Probe,
    outcome: Outcome,
    local: tuple[str, int] | None,
    listeners: Listeners | None,
) -> Result:
    key = (str(probe.address), probe.port)
    if outcome is not Outcome.CONNECTED or listeners is None or key not in listeners.sockets:
        return Result(probe, outcome)
    # The client sees the handshake complete a moment before the listener queues it.
    deadline = time.monotonic() + 1.0
    while True:
        peers = listeners.peers(*key)
        exact = [peer for peer in peers if peer == local]
        if exact or time.monotonic() > deadline:
            break
        time.sleep(0.005)
    if exact:
        return Result(probe, outcome, seen_from=exact[0][0], checked_source=True)
    # Not seen under our own address and port: translated on the way (or lost).
    same_port = [peer for peer in peers if local and peer[1] == local[1]]
    seen = same_port[0][0] if same_port else None
    return Result(probe, outcome, seen_from=seen, checked_source=True)


def check(plan: NetworkPlan, *, timeout: float = 1.5) -> list[Result]:
    """Build-time check: listeners everywhere, then the full matrix."""
    with Listeners(plan) as listeners:
        matrix = probes(plan, host_port=listeners.host_port)
        return run(matrix, listeners=listeners, timeout=timeout)


def format_matrix(results: list[Result]) -> str:
    """Rows: sources; columns: targets; cells: the ports that connected
    (`-` none, `no route` for an unroutable probe), `!` marks a cell with an unexpected result."""
    sources: list[str] = []
    targets: list[str] = []
    cells: dict[tuple[str, str], list[Result]] = {}
    for result in results:
        probe = result.probe
        if probe.source not in sources:
            sources.append(probe.source)
        if probe.target not in targets:
            targets.append(probe.target)
        cells.setdefault((probe.source, probe.target), []).append(result)
    for special in (HOST, OUTSIDE):  # host and outside as the last columns
        if special in targets:
            targets.remove(special)
            targets.append(special)

    def cell(source: str, target: str) -> str:
        found = cells.get((source, target))
        if not found:
            return "."
        connected = sorted({r.probe.port for r in found if r.outcome is Outcome.CONNECTED})
        text = ",".join(map(str, connected)) if connected else "-"
        if not connected and all(r.outcome is Outcome.UNREACHABLE for r in found):
            text = "no route"
        return text + ("" if all(r.ok for r in found) else " !")

    rows = [["from \\ to", *targets]]
    rows += [[source, *(cell(source, target) for target in targets)] for source in sources]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(text.ljust(w) for text, w in zip(row, widths, strict=True)) for row in rows]
    bad = [r for r in results if not r.ok]
    lines.append(
        f"{len(results)} probes: {len(results) - len(bad)} as expected, {len(bad)} unexpected"
    )
    lines += [f"  UNEXPECTED {r.describe()}" for r in bad]
    return "\n".join(line.rstrip() for line in lines)
