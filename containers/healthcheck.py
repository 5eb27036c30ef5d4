"""Container health check: GET /health of the service, exit 0 when it answers 200.

Docker runs it every few seconds as `python3 -I -S healthcheck.py`, so it imports
nothing but `socket` (no site, none of the service's modules): a few milliseconds.
The port is $SHOPNET_PORT, else the one TCP port the container listens on — a
container has its own network namespace, so /proc/net/tcp lists only its sockets.
"""

import os
import socket
import sys

LISTEN = "0A"


def listening_ports() -> set[int]:
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 3 and fields[3] == LISTEN:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def main() -> int:
    port = int(os.environ.get("SHOPNET_PORT") or 0)
    if not port:
        ports = listening_ports()
        if len(ports) != 1:
            print(f"set SHOPNET_PORT: listening on {sorted(ports) or 'no port'}")
            return 1
        port = ports.pop()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2.0) as conn:
            conn.sendall(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")
            status = conn.recv(128).split(b"\r\n", 1)[0].decode("latin-1")
    except OSError as exc:
        print(f"127.0.0.1:{port}/health: {exc}")
        return 1
    if status.split()[1:2] == ["200"]:
        return 0
    print(f"127.0.0.1:{port}/health: {status or 'no answer'}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
