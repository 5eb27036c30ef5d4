"""Capturing a tier with tcpdump, and impairing a tier's links with netem."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from shopnet.errors import PreflightError
from shopnet.hostnet.capture import Capture
from shopnet.hostnet.pcapsummary import FlowKey
from shopnet_netns import NetworkPlan, namespaces, netem
from shopnet_netns.listeners import Listeners
from shopnet_netns.netem import Impairment
from tests.netns.helpers import root_only

pytestmark = root_only


def connect(plan: NetworkPlan, source: str, target: str, payload: bytes = b"") -> float:
    """Connect source → target's port (from inside source's namespace); seconds it took."""
    src, dst = plan.endpoint(source), plan.endpoint(target)
    sock = namespaces.run_in(src.namespace, socket.socket)
    with sock:
        sock.settimeout(5)
        started = time.monotonic()
        sock.connect((str(dst.address.ip), dst.instance.port))
        took = time.monotonic() - started
        if payload:
            sock.sendall(payload)
    return took


def test_capture_on_a_tier_bridge_shows_the_flow(network: NetworkPlan, tmp_path: Path) -> None:
    backend = network.bridge("backend").name
    product, registry = network.endpoint("product-1"), network.endpoint("registry-1")
    with Listeners(network):
        # ARP request + reply, SYN, SYN-ACK, ACK, data: the capture ends by itself.
        running = Capture.start(backend, tmp_path / "backend.pcap", count=6, seconds=10)
        connect(network, "product-1", "registry-1", payload=b"x" * 500)
        summary = running.wait()
    labels = {str(e.address.ip): e.name for e in network.endpoints}
    print("\n" + summary.format(labels=labels))

    assert summary.packets == 6
    assert summary.protocols["arp"] >= 1
    request = [
        key
        for key in summary.flow_packets
        if key.source == str(product.address.ip)
        and key.destination == str(registry.address.ip)
        and key.destination_port == 8500
    ]
    assert request, summary.flow_packets
    assert sum(summary.flow_bytes[k] for k in request) > 500
    replies = FlowKey(
        "tcp", str(registry.address.ip), 8500, str(product.address.ip), request[0].source_port
    )
    assert summary.flow_packets[replies] >= 1
    assert "product-1" in summary.format(labels=labels)


@pytest.mark.skipif(netem.kernel_support() is not None, reason=str(netem.kernel_support()))
def test_netem_delays_every_packet_of_a_tier(network: NetworkPlan) -> None:
    with Listeners(network):
        baseline = min(connect(network, "gateway-1", "registry-1") for _ in range(3))
        print(netem.apply(network, "backend", Impairment(delay_ms=50)))
        assert set(netem.show(network, "backend").values()) == {"netem"}
        assert set(netem.show(network, "frontend").values()) == {"noqueue"}
        # The SYN waits on registry's host-side veth, the SYN-ACK on its eth0.
        delayed = min(connect(network, "gateway-1", "registry-1") for _ in range(3))
        print(netem.clear(network, "backend"))
        cleared = min(connect(network, "gateway-1", "registry-1") for _ in range(3))
    print(
        f"connect: {baseline * 1e3:.1f} ms, with netem {delayed * 1e3:.1f} ms, cleared {cleared * 1e3:.1f} ms"
    )
    assert delayed >= 0.100
    assert baseline < 0.050 and cleared < 0.050
    assert "netem" not in netem.show(network, "backend").values()


@pytest.mark.skipif(netem.kernel_support() is None, reason="this kernel has netem")
def test_netem_on_a_kernel_without_it_says_so_and_changes_nothing(network: NetworkPlan) -> None:
    before = netem.show(network, "backend")
    with pytest.raises(PreflightError, match="CONFIG_NET_SCH_NETEM"):
        netem.apply(network, "backend", Impairment(delay_ms=50, loss_pct=1))
    assert netem.show(network, "backend") == before
    assert "netem" not in before.values()
    assert netem.clear(network, "backend") == "tier backend: netem removed from 0 interfaces"


@pytest.mark.skipif(netem.kernel_support() is None, reason="this kernel has netem")
def test_loss_alone_works_without_netem_and_is_removed_by_clear_and_teardown(
    network: NetworkPlan,
) -> None:
    with Listeners(network):
        assert connect(network, "gateway-1", "registry-1") < 1.0
        summary = netem.apply(network, "backend", Impairment(loss_pct=100))
        assert "loss 100% per direction by nftables" in summary
        with pytest.raises(OSError):  # every SYN to the backend tier is dropped
            connect(network, "gateway-1", "registry-1")
        assert netem.clear(network, "backend").endswith("and the loss table")
        assert connect(network, "gateway-1", "registry-1") < 1.0
        netem.apply(network, "backend", Impairment(loss_pct=100))
    # left in place on purpose: the `clean` fixture's teardown must find and remove it
