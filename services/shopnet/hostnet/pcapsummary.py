"""Read a pcap file and summarise it: protocols, top talkers, flows.

A small reader for the classic pcap format tcpdump writes with `-w` (not
pcapng), for Ethernet (a bridge) and Linux cooked captures; enough to say who
talked to whom on a tier without a Wireshark. VXLAN (UDP 4789, an underlay of
netns `--hosts N`) is opened too: what each VNI carried is summarised as well.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path

from shopnet.errors import ConfigError

LINKTYPE_ETHERNET = 1
LINKTYPE_LINUX_SLL = 113
_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_PROTOCOLS = {6: "tcp", 17: "udp", 1: "icmp"}
VXLAN_PORT = 4789
_VXLAN_HEADERS = 8 + 8
"""UDP + VXLAN headers between the outer IPv4 header and the inner Ethernet frame."""


@dataclass(frozen=True, slots=True)
class FlowKey:
    """One direction of a conversation."""

    protocol: str
    source: str
    source_port: int | None
    destination: str
    destination_port: int | None


@dataclass(slots=True)
class Summary:
    """What a capture held."""

    packets: int = 0
    bytes: int = 0
    first: float | None = None
    last: float | None = None
    protocols: Counter[str] = field(default_factory=Counter)
    sent_bytes: Counter[str] = field(default_factory=Counter)
    sent_packets: Counter[str] = field(default_factory=Counter)
    flow_packets: Counter[FlowKey] = field(default_factory=Counter)
    flow_bytes: Counter[FlowKey] = field(default_factory=Counter)
    tunnelled: dict[int, Summary] = field(default_factory=dict)
    """VNI → what the VXLAN packets of that VNI carried (inner frames)."""

    @property
    def seconds(self) -> float:
        return (self.last - self.first) if self.first is not None and self.last else 0.0

    def format(self, *, labels: dict[str, str] | None = None, top: int = 10) -> str:
        """Text report; `labels` names addresses (e.g. "172.21.0.10" → "registry-1")."""
        labels = labels or {}

        def host(address: str) -> str:
            return f"{address} ({labels[address]})" if address in labels else address

        def endpoint(address: str, port: int | None) -> str:
            return host(address) + (f":{port}" if port is not None else "")

        protocols = ", ".join(f"{p} {n}" for p, n in self.protocols.most_common())
        lines = [
            f"{self.packets} packets, {_size(self.bytes)} in {self.seconds:.2f} s"
            + (f" ({protocols})" if protocols else "")
        ]
        if self.sent_bytes:
            lines.append("top talkers (bytes sent):")
            for address, sent in self.sent_bytes.most_common(top):
                lines.append(
                    f"  {host(address):<32} {_size(sent):>9} {self.sent_packets[address]:>6} pkts"
                )
        if self.flow_packets:
            lines.append("flows:")
            for key, count in self.flow_packets.most_common(top):
                lines.append(
                    f"  {key.protocol:<4} {endpoint(key.source, key.source_port)} -> "
                    f"{endpoint(key.destination, key.destination_port)}"
                    f"  {count} pkts, {_size(self.flow_bytes[key])}"
                )
        for vni, inner in sorted(self.tunnelled.items()):
            name = labels.get(f"vni {vni}")
            lines.append(
                f"inside VXLAN VNI {vni}{f' ({name})' if name else ''}: "
                + inner.format(labels=labels, top=5).replace("\n", "\n  ")
            )
        return "\n".join(lines)


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{count / 1024 / 1024:.1f} MiB"


def summarize(path: Path) -> Summary:
    """Parse the pcap at `path`."""
    data = path.read_bytes()
    if len(data) < 24 or data[:4] not in _MAGIC:
        raise ConfigError(f"{path} is not a pcap file (pcapng is not supported)")
    order, scale = _MAGIC[data[:4]]
    linktype = struct.unpack_from(f"{order}I", data, 20)[0] & 0x0FFFFFFF
    if linktype not in (LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL):
        raise ConfigError(f"{path}: link type {linktype} is not Ethernet or Linux cooked")
    summary = Summary()
    offset = 24
    while offset + 16 <= len(data):
        seconds, fraction, captured, original = struct.unpack_from(f"{order}IIII", data, offset)
        frame = data[offset + 16 : offset + 16 + captured]
        offset += 16 + captured
        stamp = seconds + fraction * scale
        summary.first = stamp if summary.first is None else summary.first
        summary.last = stamp
        summary.packets += 1
        summary.bytes += original
        _account(summary, frame, original, linktype)
    for tunnel in summary.tunnelled.values():  # over the same span of time
        tunnel.first, tunnel.last = summary.first, summary.last
    return summary


def _account(summary: Summary, frame: bytes, size: int, linktype: int) -> None:
    if linktype == LINKTYPE_ETHERNET:
        header = 14
        ethertype = int.from_bytes(frame[12:14], "big") if len(frame) >= 14 else 0
        while ethertype in (0x8100, 0x88A8) and len(frame) >= header + 4:  # VLAN tags
            ethertype = int.from_bytes(frame[header + 2 : header + 4], "big")
            header += 4
    else:
        header = 16
        ethertype = int.from_bytes(frame[14:16], "big") if len(frame) >= 16 else 0
    if ethertype == 0x0806:
        summary.protocols["arp"] += 1
        return
    if ethertype == 0x86DD:
        summary.protocols["ipv6"] += 1
        return
    if ethertype != 0x0800 or len(frame) < header + 20:
        summary.protocols["other"] += 1
        return
    ip = frame[header:]
    ihl = (ip[0] & 0x0F) * 4
    number = ip[9]
    protocol = _PROTOCOLS.get(number, f"ip/{number}")
    source, destination = str(IPv4Address(ip[12:16])), str(IPv4Address(ip[16:20]))
    ports: tuple[int | None, int | None] = (None, None)
    if number in (6, 17) and len(ip) >= ihl + 4:
        ports = struct.unpack_from("!HH", ip, ihl)
    key = FlowKey(protocol, source, ports[0], destination, ports[1])
    summary.protocols[protocol] += 1
    summary.sent_bytes[source] += size
    summary.sent_packets[source] += 1
    summary.flow_packets[key] += 1
    summary.flow_bytes[key] += size
    inner = ihl + _VXLAN_HEADERS
    if number == 17 and ports[1] == VXLAN_PORT and len(ip) >= inner + 14:
        vni = int.from_bytes(ip[ihl + 12 : ihl + 15], "big")
        tunnel = summary.tunnelled.setdefault(vni, Summary())
        tunnel.packets += 1
        tunnel.bytes += size - header - inner
        _account(tunnel, ip[inner:], size - header - inner, LINKTYPE_ETHERNET)
