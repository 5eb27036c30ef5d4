"""Small synchronous HTTP probes for the CLI (readiness waits, status), standard library only."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from shopnet.errors import ReadinessTimeout
from shopnet.runtime.progress import Progress
from shopnet.topology.model import Kind, Topology

# Everything we probe is our own stack on this machine: never go through a proxy
# that http_proxy/https_proxy in the environment might name.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get_json(url: str, *, timeout: float = 1.0, ok_only: bool = False) -> Any:
    """The JSON body at `url`, or None when unreachable (or not 2xx, with `ok_only`).

    Error statuses with a JSON body (e.g. /ready's 503) are returned unless `ok_only`.
    """
    try:
        with _OPENER.open(url, timeout=timeout) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        if ok_only:
            return None
        try:
            return json.loads(exc.read() or b"null")
        except ValueError:
            return None
    except (OSError, ValueError):
        return None


def expected_registrations(topology: Topology, scale: dict[str, int]) -> dict[str, int]:
    """Service → instances that must be passing in the registry (every app but the registry)."""
    return {
        s.name: scale.get(s.name, 1)
        for s in topology.services
        if s.kind is Kind.APP and s.name != "registry"
    }


def wait_registered(
    url: str, wanted: dict[str, int], *, progress: Progress, timeout: float
) -> None:
    """Until the registry at `url` (/v1/services) lists `wanted` instances as passing, so the
    gateway balances over all of them."""
    with progress.step("waiting until every instance is registered"):
        deadline = time.monotonic() + timeout
        while True:
            catalog = (get_json(url) or {}).get("services", {})
            if all(catalog.get(s, {}).get("passing", 0) >= n for s, n in wanted.items()):
                return
            if time.monotonic() > deadline:
                have = {s: catalog.get(s, {}).get("passing", 0) for s in wanted}
                raise ReadinessTimeout(f"registered instances {have}, expected {wanted}")
            time.sleep(0.2)
