"""Capturing a tier with tcpdump, and impairing a tier's links with netem."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from shopnet.errors import PreflightError
from shopnet.hostnet.capture import Capture
from shopnet.hostnet.pcapsummary import FlowKey
from shopnet_netns import NetworkPlan, namespaces, netem
from shopnet_netns.listeners import Listeners
from shopnet_netns.netem import Impairment, Rate
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


def throughput(plan: NetworkPlan, source: str, target: str, seconds: float) -> float:
    """Bytes per second `source` gets across to `target` in `seconds` (bounded: at most
    64 MiB), counted by the receiver."""
    src = plan.endpoint(source)
    received = 0
    with _listener(plan, target) as lsn:
        sock = namespaces.run_in(src.namespace, socket.socket)
        with sock:
            sock.settimeout(5)
            sock.connect(lsn.getsockname())
            conn, _ = lsn.accept()
            done = threading.Event()

            def read() -> None:
                nonlocal received
                conn.settimeout(1)
                with conn:
                    while not done.is_set():
                        try:
                            chunk = conn.recv(1 << 16)
                        except TimeoutError:
                            continue
                        if not chunk:
                            return
                        received += len(chunk)

            reader = threading.Thread(target=read)
            reader.start()
            payload = b"x" * (1 << 16)
            started = time.monotonic()
            sock.settimeout(0.2)
            while time.monotonic() - started < seconds and received < 64 << 20:
                try:
                    sock.send(payload)
                except TimeoutError:
                    continue
            took = time.monotonic() - started
            done.set()
            reader.join()
    return received / took


def _listener(plan: NetworkPlan, target: str) -> socket.socket:
    endpoint = plan.endpoint(target)
    address = str(endpoint.address.ip)
    port = endpoint.instance.port  # a flow the firewall allows
    sock = namespaces.run_in(endpoint.namespace, lambda: socket.create_server((address, port)))
    sock.settimeout(5)
    return sock


def test_rate_limits_a_tiers_throughput_and_clear_lifts_it(network: NetworkPlan) -> None:
    rate = Rate.parse("8mbit")  # 1 MB/s
    before = throughput(network, "gateway-1", "registry-1", 0.5)
    print(netem.apply(network, "backend", Impairment(), rate))
    assert set(netem.show(network, "backend").values()) == {"tbf"}
    assert set(netem.show(network, "frontend").values()) == {"noqueue"}
    limited = throughput(network, "gateway-1", "registry-1", 2.0)
    print(netem.clear(network, "backend"))
    after = throughput(network, "gateway-1", "registry-1", 0.5)
    print(
        f"throughput gateway-1 → registry-1: {before / 1e6:.1f} MB/s, "
        f"at {rate.describe()} {limited / 1e6:.2f} MB/s, cleared {after / 1e6:.1f} MB/s"
    )
    # One bucket's burst may pass at once, the rest at the rate.
    ceiling = rate.bytes_per_second * 1.1 + rate.burst_bytes / 2.0
    assert 0.5 * rate.bytes_per_second < limited <= ceiling
    assert before > 10 * rate.bytes_per_second and after > 10 * rate.bytes_per_second
    assert "tbf" not in netem.show(network, "backend").values()
    netem.apply(network, "backend", Impairment(), rate)
    # left in place on purpose: teardown removes it with the veths (the `clean` fixture checks)
