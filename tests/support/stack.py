"""Driving the real `shopnet` command from tests: up, down, status, with a private state dir."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shopnet.runtime import process
from shopnet.topology import default_topology

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def shopnet(
    root: Path, *args: str, timeout: float = 300, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `shopnet --state-dir ROOT ARGS…` in a subprocess, as a user would."""
    result = subprocess.run(
        [sys.executable, "-m", "shopnet", "--state-dir", str(root), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"shopnet {' '.join(args)} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


def token(root: Path, mode: str, customer: str | None = None) -> str:
    """A token of the running stack (`shopnet token`): an admin's, or `customer`'s."""
    who = ("--customer", customer) if customer else ("--admin",)
    return shopnet(root, "token", "--mode", mode, *who).stdout.strip()


def bearer(root: Path, mode: str, customer: str | None = None) -> dict[str, str]:
    """The Authorization field of `token`."""
    return {"Authorization": f"Bearer {token(root, mode, customer)}"}


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: Any


def request(
    url: str,
    *,
    method: str = "GET",
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> Response:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            raw = resp.read()
            return Response(resp.status, dict(resp.headers), json.loads(raw) if raw else None)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return Response(exc.code, dict(exc.headers), json.loads(raw) if raw else None)


def status(root: Path, mode: str) -> list[dict[str, Any]]:
    return json.loads(shopnet(root, "status", "--mode", mode, "--json", check=False).stdout)


def leftovers(root: Path, mode: str) -> dict[str, Any]:
    """What of a stack still exists: live recorded processes, tagged processes, state file."""
    layout_dir = root / mode
    return {
        "records": [r.instance for r in process.records(layout_dir / "pids")]
        if (layout_dir / "pids").exists()
        else [],
        "tagged": sorted(process.tagged_processes(str(layout_dir)).values()),
        "state": (layout_dir / "state.json").exists(),
    }


def default_resources_taken(mode: str) -> str | None:
    """What of the default topology's fixed host resources `mode` needs is taken, or None.

    Tests that run the literal default topology (port 8080; in netns mode the tier
    subnets and prefix `shopnet`) share these with a person's stack; netns teardown
    finds objects by prefix, so such a test must not even start next to one.
    """
    from shopnet_docker.preflight import host_routes

    topology = default_topology()
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", topology.published_port))
        except OSError:
            return f"host port {topology.published_port} is in use"
    if mode == "local":  # loopback ports only; its processes are found by state directory
        return None
    for ifname, network in host_routes():
        for tier in topology.tiers:
            if network.prefixlen and tier.subnet.overlaps(network):
                return f"{tier.subnet} is routed on {ifname}"
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    if any(line.startswith(f"{topology.prefix}-") for line in listed.stdout.splitlines()):
        return f"network namespaces {topology.prefix}-… exist"
    return None


def require_default_resources(mode: str) -> None:
    """Skip, in one line and before anything is changed, when another stack holds them."""
    if taken := default_resources_taken(mode):
        pytest.skip(f"runs the default topology, but {taken}: is a stack of someone's up?")
