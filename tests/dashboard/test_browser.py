"""The dashboard in a real browser (Debian's Chromium through Playwright) against a
running netns stack under light load: every instance and flow on the page, rates
that move, a forbidden connection shown as denied, a killed instance red and back.

netns mode has no supervisor yet, so after the kill the test starts the instance
again itself, the way `up` did (the same launcher, placement and namespace).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shopnet.topology import default_topology
from shopnet.topology.model import WORLD
from tests.dashboard.support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    dashboard,
    free_port,
    light_load,
    save_artifact,
)
from tests.support.servers import scratch_dir
from tests.support.stack import bearer, require_default_resources, shopnet, status

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="netns mode needs root"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium package"),
]

GATEWAY = "http://127.0.0.1:8080"
VICTIM = "product-2"
CONNECT_TO_POSTGRES = (
    "import socket; s = socket.socket(); s.settimeout(0.5); "
    "print(s.connect_ex(('172.22.0.10', 5432)))"
)


def wait_for_js(page: Any, expression: str, seconds: float) -> None:
    """Poll `expression` until it is true. Playwright's wait_for_function evaluates its
    predicate with eval inside the page, which the dashboard's CSP (no 'unsafe-eval')
    refuses; page.evaluate goes through the DevTools protocol, which a CSP does not govern."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {seconds:g} s: {expression}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def root() -> Iterator[Path]:
    require_default_resources("netns")
    path = scratch_dir("shopnet-dashboard-")
    try:
        shopnet(path, "up", "--mode", "netns", "--scale", "product=2", "-q")
        yield path
    finally:
        shopnet(path, "down", "--mode", "netns", "--volumes", "-q", check=False)


def test_dashboard_shows_the_live_stack(root: Path, tmp_path: Path) -> None:
    topology = default_topology()
    instances = [row["instance"] for row in status(root, "netns")]
    assert VICTIM in instances
    flows = [f"{f.source}-{f.target}" for f in topology.flows]
    port = free_port()
    admin = bearer(root, "netns")
    with (
        dashboard(root, "netns", port) as url,
        light_load(GATEWAY, headers=admin),
        playwright.sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            check_page(page, url=url, root=root, instances=instances, flows=flows, out=tmp_path)
        finally:
            # What the browser showed last, pass or fail (the first thing to look at on failure).
            page.screenshot(path=str(tmp_path / "dashboard-last.png"), full_page=True)
            save_artifact(tmp_path / "dashboard-last.png")
            browser.close()


def check_page(
    page: Any, *, url: str, root: Path, instances: list[str], flows: list[str], out: Path
) -> None:
    errors: list[str] = []  # a Content Security Policy violation shows up here
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url)

    # Every instance and every allowed flow is drawn, and every instance turns green.
    for name in instances:
        page.wait_for_selector(f"#node-{name}.health-ready", timeout=10_000)
    for flow in flows:
        assert page.locator(f"#edge-{flow}").count() == 1, flow
    assert page.locator(f"#node-{WORLD}").count() == 1
    assert "br-database · 172.22.0.0/24" in page.locator("#tier-database").text_content()

    # Rates become non-zero on the flows the load uses (metrics, and the firewall's counters).
    for flow in ("world-gateway", "gateway-product", "product-redis"):
        wait_for_js(page, f"Number(document.getElementById('edge-{flow}').dataset.rate) > 0", 10)
    # The firewall's counter of connections gateway → product let open (its pools' ones).
    conns = "document.querySelector(\"tr[data-flow='gateway->product'] td:nth-child(4)\")"
    wait_for_js(page, f"parseInt({conns}.textContent) > 0", 5)

    # A forbidden connection: gateway → postgres is dropped, and the pair gets a red mark.
    tried = shopnet(root, "exec", "gateway-1", "--", "python3", "-c", CONNECT_TO_POSTGRES)
    assert tried.stdout.strip() != "0", "the firewall let gateway-1 reach postgres"
    page.wait_for_selector(
        ".denied-mark[data-source='gateway-1'][data-target='postgres-1'][data-port='5432']",
        timeout=5_000,
    )
    assert page.locator("#denied-list li[data-source='gateway-1']").count() == 1

    # A killed instance turns red within 2 s, and green again once the stack's supervisor
    # has brought it back (it may be back before a status read saw it down: its grown
    # restart count shows it red all the same).
    pid = next(r["pid"] for r in status(root, "netns") if r["instance"] == VICTIM)
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    page.wait_for_selector(f"#node-{VICTIM}.health-down", timeout=5_000)
    turned_red = time.monotonic() - killed
    assert turned_red < 2.0, f"{VICTIM} turned red after {turned_red:.1f}s"
    page.screenshot(path=str(out / "dashboard-instance-down.png"), full_page=True)
    page.wait_for_selector(f"#node-{VICTIM}.health-ready", timeout=15_000)
    back = time.monotonic() - killed

    shot = out / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    save_artifact(shot)
    save_artifact(out / "dashboard-instance-down.png")
    timings = out / "dashboard-timings.txt"
    timings.write_text(f"red after kill: {turned_red:.2f} s\ngreen after the kill: {back:.2f} s\n")
    save_artifact(timings)
    assert not [e for e in errors if "Content Security Policy" in e], errors
