"""`shopnet trace` on a real netns stack (the test topology, routed): allowed, denied, refused.

One stack for every assertion; each trace is a real probe through real
namespaces, nftables and conntrack, read with nft monitor trace and tracefs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shopnet.trace.route import Place
from shopnet_netns import namespaces
from tests.netns import helpers
from tests.support.servers import free_port, scratch_dir
from tests.support.stack import shopnet
from tests.trace.helpers import trace_leftovers

pytestmark = [
    pytest.mark.slow,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="netns mode needs root"),
]

PREFIX = helpers.PREFIX


def places() -> list[Place]:
    listed = namespaces.listed(PREFIX)
    return [Place("host", None), *(Place(n, str(namespaces.path(n))) for n in listed)]


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[Path, Path]]:
    root = scratch_dir("shopnet-trace-netns-")
    topology = root / "topology.toml"
    topology.write_text(helpers.testbed_toml(free_port()))
    args = ("--topology", str(topology))
    shopnet(root, *args, "down", "--mode", "netns", "--volumes", check=False)
    try:
        shopnet(root, *args, "up", "--mode", "netns", "-q")
        yield root, topology
    finally:
        shopnet(root, *args, "down", "--mode", "netns", "--volumes", check=False)


def trace(stack: tuple[Path, Path], *what: str) -> str:
    root, topology = stack
    return shopnet(root, "--topology", str(topology), "trace", *what, timeout=60).stdout


def test_allowed_from_outside_shows_the_dnat_and_the_accept(stack: tuple[Path, Path]) -> None:
    out = trace(stack, "outside", "gateway-1")
    address = helpers.SUBNETS["frontend"].replace(".0/24", ".10")
    assert f"dnat ip to {address}:3000" in out, out
    assert "DNAT " in out and f"→ {address}:3000" in out, out
    assert "[gateway-1] request" in out and "[syn, ack]" in out, out
    assert out.splitlines()[-1] == "delivered — allowed: anyone outside (world) → gateway:3000"
    # Between tiers: the host's forward hook accepts it by the flow's own rule.
    out = trace(stack, "gateway-1", "product-1")
    assert 'comment "gateway -> product:3001"  ⇒ accept' in out, out
    assert "route: " in out and "dev stbr-backend" in out, out


def test_denied_names_the_dropping_rule_and_says_not_allowed(stack: tuple[Path, Path]) -> None:
    walk = json.loads(trace(stack, "gateway-1", "postgres-1", "--json"))
    assert walk["end"] == "dropped"
    assert "forward hook" in walk["end_detail"] and f"inet {PREFIX} testbed" in walk["end_detail"]
    assert "anything else from or to the testbed" in walk["end_detail"]
    assert walk["verdict"].endswith("not allowed: gateway may not reach postgres")
    assert any("NETFILTER_DROP" in d for d in walk["drops"]), walk["drops"]


def test_a_closed_port_reports_the_rst(stack: tuple[Path, Path]) -> None:
    out = trace(stack, "host", "product-1", "3999")
    assert "[rst, ack]" in out, out
    assert "answered RST" in out and "NO_SOCKET" in out, out
    assert out.splitlines()[-1].startswith("refused (RST) — allowed: the host administers")


def test_nothing_is_left_behind_also_after_kill_9(stack: tuple[Path, Path]) -> None:
    assert trace_leftovers(PREFIX, places()) == []
    root, topology = stack
    argv = [sys.executable, "-m", "shopnet", "--state-dir", str(root), "--topology",
            str(topology), "trace", "gateway-1", "postgres-1"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not trace_leftovers(PREFIX, places()):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert trace_leftovers(PREFIX, places()) != [], "the trace was killed before it armed"
    # The next trace cleans up first; `down` would too.
    trace(stack, "host", "product-1")
    assert trace_leftovers(PREFIX, places()) == []
    monitors = subprocess.run(["pgrep", "-f", "^nft monitor trace"], capture_output=True, text=True)
    assert monitors.stdout == "", "a monitor outlived its trace"


def test_a_learners_tools_work_in_exec_and_it_says_as_whom(stack: tuple[Path, Path]) -> None:
    root, topology = stack
    own = helpers.SUBNETS["frontend"].replace(".0/24", ".10")
    product = helpers.SUBNETS["backend"].replace(".0/24", ".20")
    for argv in (
        ["ping", "-c", "1", "-W", "2", own],
        ["ip", "-br", "addr"],
        ["ss", "-tln"],
        ["curl", "-s", "-o", "/dev/null", f"http://{product}:3001/health"],
        ["tcpdump", "-D"],
    ):
        out = shopnet(root, "--topology", str(topology), "exec", "gateway-1", "--", *argv)
        assert "as root (uid 0) in gateway-1's network namespace" in out.stderr, out.stderr
    listening = shopnet(root, "--topology", str(topology), "exec", "gateway-1", "--", "ss", "-tln")
    assert ":3000" in listening.stdout
