"""HAProxy and Caddy in the gateway's place: configured from the instance list, and for real
routing /api/products and /api/orders round-robin to the instances with /api stripped."""

from __future__ import annotations

import http.server
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from shopnet.bench import gateways

UPSTREAMS = gateways.Upstreams(products=["127.0.0.1:1", "127.0.0.1:2"], orders=["127.0.0.1:3"])


def test_haproxy_config_is_valid() -> None:
    text = gateways.render_haproxy("127.0.0.1:8099", UPSTREAMS)
    assert "server product1 127.0.0.1:1" in text and "server product2 127.0.0.1:2" in text
    out = subprocess.run(
        ["haproxy", "-c", "-f", "/dev/stdin"], input=text, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_caddy_config_is_valid(tmp_path: Path) -> None:
    conf = tmp_path / "Caddyfile"
    conf.write_text(gateways.render_caddy("127.0.0.1:8099", UPSTREAMS))
    out = subprocess.run(
        ["caddy", "validate", "--config", str(conf), "--adapter", "caddyfile"],
        capture_output=True, text=True, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr


class _Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        port = cast(http.server.HTTPServer, self.server).server_port
        body = f"{port} {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echoes() -> Iterator[list[str]]:
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo) for _ in range(3)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield [f"127.0.0.1:{s.server_address[1]}" for s in servers]
    for server in servers:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 10.0) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, ""
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.parametrize("name", ["haproxy", "caddy"])
def test_the_peer_routes_like_our_gateway(name: str, echoes: list[str], tmp_path: Path) -> None:
    if shutil.which(name) is None:
        pytest.skip(f"{name} is not installed")
    port = _free_port()
    upstreams = gateways.Upstreams(products=echoes[:2], orders=echoes[2:])
    spec = gateways.prepare(name, tmp_path / name, f"127.0.0.1:{port}", upstreams)
    with spec.log_path.open("w") as log:
        process = subprocess.Popen(
            spec.argv, env={**spec.env, "PATH": "/usr/bin:/bin:/usr/sbin"}, stdout=log, stderr=log
        )
    try:
        seen = {_get(f"http://127.0.0.1:{port}/api/products/7?x=1")[1] for _ in range(4)}
        assert {s.split()[1] for s in seen} == {"/products/7?x=1"}
        assert {s.split()[0] for s in seen} == {e.rsplit(":", 1)[1] for e in echoes[:2]}
        status, body = _get(f"http://127.0.0.1:{port}/api/orders/abc")
        assert status == 200 and body.split() == [echoes[2].rsplit(":", 1)[1], "/orders/abc"]
        assert _get(f"http://127.0.0.1:{port}/elsewhere")[0] == 404
    finally:
        process.terminate()
        process.wait(timeout=10)
