"""Bulk TCP throughput into a network namespace we can only name by a process in it
(a container's): a receiver runs there under `nsenter -n`, the sender is the host."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

from tests.support.servers import free_port

RECEIVER = """
import socket, sys, time
address, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
server = socket.create_server((address, port))
server.settimeout(10)
print("listening", flush=True)
conn, _ = server.accept()
conn.settimeout(1)
received, started = 0, time.monotonic()
while time.monotonic() - started < seconds:
    try:
        chunk = conn.recv(1 << 16)
    except TimeoutError:
        continue
    if not chunk:
        break
    received += len(chunk)
print(received / (time.monotonic() - started), flush=True)
"""
CAP_BYTES = 64 << 20
"""The sender stops after 64 MiB whatever the rate: bounded."""


def into(pid: int, address: str, seconds: float) -> float:
    """Bytes per second the host gets across to `address` (in `pid`'s network namespace)."""
    port = free_port()
    receiver = subprocess.Popen(
        ["nsenter", "-t", str(pid), "-n", sys.executable, "-c", RECEIVER,
         address, str(port), str(seconds)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert receiver.stdout is not None
        assert receiver.stdout.readline().strip() == "listening"
        with socket.create_connection((address, port), timeout=5) as sock:
            sock.settimeout(0.2)
            payload, sent, started = b"x" * (1 << 16), 0, time.monotonic()
            while time.monotonic() - started < seconds + 0.5 and sent < CAP_BYTES:
                try:
                    sent += sock.send(payload)
                except (TimeoutError, BrokenPipeError, ConnectionResetError):
                    if receiver.poll() is not None:
                        break
        out, _ = receiver.communicate(timeout=15)
        return float(out.strip().splitlines()[-1])
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.wait()
