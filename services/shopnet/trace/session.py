"""One traced probe: clean up, arm every namespace, probe, read, disarm.

The order is what keeps tracing to the probe's flow alone: the probe's socket
is bound first (its source port is then known and held), the tables mark only
that address and port, each monitor is proven to listen (its canary seen)
before the SYN leaves, and everything is removed in `finally`.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import subprocess
import time
from collections.abc import Iterator

from shopnet.errors import DriverError
from shopnet.trace import assemble, drops, nfttrace
from shopnet.trace.nsenter import run_in
from shopnet.trace.route import Place, TraceRoute
from shopnet.trace.walk import End, Walk

CONNECT_TIMEOUT = 1.5
"""The first SYN and one retransmission (after 1 s) for a dropped probe."""
READY_TIMEOUT = 5.0
QUIET = 0.3
"""The monitors are read until no event arrived for this long (after the probe)."""


def cleanup(prefix: str, places: list[Place]) -> list[str]:
    """Remove a killed trace's tables (in `places`) and tracefs instance; what was removed."""
    removed = [
        f"nftables table inet {nfttrace.table_name(prefix)} in {p.label}"
        for p in places
        if nfttrace.remove(p.netns, prefix)
    ]
    return removed + drops.cleanup(prefix)


def trace(route: TraceRoute, prefix: str) -> Walk:
    cleanup(prefix, list(route.places))
    probe = run_in(route.source_place.netns, lambda: _bound_socket(route.source_address))
    try:
        sport = probe.getsockname()[1]
        with _armed(route, prefix, sport) as monitors:
            watch = drops.DropWatch(prefix, sport)
            watch.start()
            try:
                outcome = _connect(probe, route.connect)
                probe.close()
                events = _drain(monitors)
            finally:
                kernel_drops, sent = watch.stop()
            nat = assemble.conntrack_of(route, sport)
            routes = assemble.routes(route, events, sport, prefix)
            chains = {p.label: nfttrace.base_chains(p.netns) for p in route.places}
    finally:
        probe.close()
    return assemble.walk(
        route, sport=sport, outcome=outcome, events=events, nat=nat, routes=routes,
        # A delivered probe dropped nothing; what the kernel freed meanwhile was someone else's.
        drops=[] if outcome is End.DELIVERED else drops.matching(kernel_drops, sent),
        sent=len(sent), prefix=prefix, chains=chains,
    )  # fmt: skip


def _bound_socket(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((address, 0))
    except OSError as exc:
        sock.close()
        raise DriverError(f"cannot bind the probe to {address}: {exc.strerror}") from None
    return sock


@contextlib.contextmanager
def _armed(route: TraceRoute, prefix: str, sport: int) -> Iterator[dict[str, nfttrace.Monitor]]:
    """A table and a monitor in every place, each monitor proven to listen; all removed after."""
    monitors: dict[str, nfttrace.Monitor] = {}
    canaries: dict[str, socket.socket] = {}
    try:
        for place in route.places:
            canary = run_in(place.netns, _canary_socket)
            canaries[place.label] = canary
            ruleset = nfttrace.render(
                prefix, address=route.source_address, port=sport, canary=canary.getsockname()[1]
            )
            try:
                nfttrace.load(place.netns, prefix, ruleset)
            except subprocess.CalledProcessError as exc:
                raise DriverError(
                    f"loading the trace table in {place.label}: {exc.stderr}"
                ) from None
            monitors[place.label] = nfttrace.Monitor(place.netns)
        _wait_listening(monitors, canaries)
        yield monitors
    finally:
        for monitor in monitors.values():
            monitor.stop()
        for canary in canaries.values():
            canary.close()
        for place in route.places:
            nfttrace.remove(place.netns, prefix)


def _canary_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def _wait_listening(
    monitors: dict[str, nfttrace.Monitor], canaries: dict[str, socket.socket]
) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    waiting = set(monitors)
    while waiting:
        for label in list(waiting):
            canary = canaries[label]
            if monitors[label].saw_canary(canary.getsockname()[1]):
                waiting.discard(label)
            else:
                canary.sendto(b"canary", ("127.0.0.1", nfttrace.CANARY_PORT))
        if waiting and time.monotonic() > deadline:
            raise DriverError(f"nft monitor trace did not start in {', '.join(sorted(waiting))}")
        time.sleep(0.02)


def _connect(sock: socket.socket, where: tuple[str, int]) -> End:
    sock.setblocking(False)
    code = sock.connect_ex(where)
    if code in (errno.EINPROGRESS, errno.EAGAIN):
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_WRITE)
            if not selector.select(CONNECT_TIMEOUT):
                return End.DROPPED
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if code == 0:
        return End.DELIVERED
    if code == errno.ECONNREFUSED:
        return End.REFUSED
    if code in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return End.NO_ROUTE
    return End.DROPPED


def _drain(monitors: dict[str, nfttrace.Monitor]) -> dict[str, list[nfttrace.Event]]:
    """Every monitor's events once none arrived for QUIET seconds (at most 3 s)."""
    deadline = time.monotonic() + 3.0
    count = -1
    while time.monotonic() < deadline:
        now = sum(len(m.snapshot()) for m in monitors.values())
        if now == count:
            break
        count = now
        time.sleep(QUIET)
    return {label: m.snapshot() for label, m in monitors.items()}
