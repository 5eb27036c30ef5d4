"""Listening sockets in every namespace, for the isolation matrix and the tests.

A listening socket is all a TCP connect needs: the kernel completes the
handshake and queues the connection, no process has to run. Created by a
thread that joined the namespace (the socket stays there for life), so
nothing is spawned and nothing needs stopping afterwards: closing is enough.
Accepting afterwards tells who connected, which is how the matrix checks that a
connection arrived from the source's own address, not through NAT.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Iterable

from shopnet.topology.model import Topology
from shopnet_netns import namespaces
from shopnet_netns.plan import NetworkPlan


def ports_that_matter(topology: Topology) -> tuple[int, ...]:
    return tuple(sorted({s.port for s in topology.services} | {f.port for f in topology.flows}))


def _listening_socket(address: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _listening_sockets(address: str, ports: Iterable[int]) -> list[socket.socket]:
    return [_listening_socket(address, port) for port in ports]


class Listeners:
    """Listening sockets on every port that matters in every namespace, and on the host's
    tier addresses (one free port); a context manager. Connections complete in the
    kernel; `peers()` accepts them and says who connected."""

    def __init__(self, plan: NetworkPlan, *, every_port: bool = True) -> None:
        self.plan = plan
        self.every_port = every_port
        self.sockets: dict[tuple[str, int], socket.socket] = {}
        self.host_port: int | None = None
        self._peers: dict[tuple[str, int], set[tuple[str, int]]] = {}

    def __enter__(self) -> Listeners:
        try:
            ports = ports_that_matter(self.plan.topology)
            for endpoint in self.plan.endpoints:
                address = str(endpoint.address.ip)
                wanted = ports if self.every_port else (endpoint.instance.port,)
                made = namespaces.run_in(
                    endpoint.namespace, functools.partial(_listening_sockets, address, wanted)
                )
                for port, sock in zip(wanted, made, strict=True):
                    self.sockets[(address, port)] = sock
            # The real host's own addresses: its tier bridges', or its underlay address.
            under = self.plan.underlay
            mine = [under.address.ip] if under else [b.address.ip for b in self.plan.bridges]
            for own in mine:
                sock = _listening_socket(str(own), self.host_port or 0)
                self.host_port = sock.getsockname()[1]
                self.sockets[(str(own), self.host_port)] = sock
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for sock in self.sockets.values():
            sock.close()
        self.sockets.clear()

    def _drain(self) -> None:
        for key, sock in self.sockets.items():
            while True:
                try:
                    conn, peer = sock.accept()
                except (BlockingIOError, InterruptedError):
                    break
                conn.close()
                self._peers.setdefault(key, set()).add(peer)

    def peers(self, address: str, port: int) -> set[tuple[str, int]]:
        self._drain()
        return set(self._peers.get((address, port), set()))
