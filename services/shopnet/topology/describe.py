"""`shopnet topology`: the plan in words — tiers, instances with addresses, allowed flows."""

from __future__ import annotations

from shopnet.topology.model import WORLD, Topology, Wiring


def describe(
    topology: Topology,
    scale: dict[str, int],
    *,
    mode: str | None = None,
    wiring: Wiring | None = None,
) -> str:
    """The plan in words; with `mode`, also how `wiring` (default: the mode's) attaches it."""
    lines = ["Tiers:"]
    for tier in topology.tiers:
        flag = "  (internal: no route out)" if tier.internal else ""
        lines.append(
            f"  {tier.name:<9} {tier.bridge:<12} {tier.subnet}  host {tier.host_address}{flag}"
        )
    lines.append("Instances:")
    for instance in topology.plan(scale):
        lines.append(
            f"  {instance.name:<11} {instance.tier.name:<9} {instance.address}:{instance.port}"
        )
    lines.append(
        f"Published: host port {topology.published_port} → gateway {_gateway(topology, scale)}"
    )
    lines.append("Allowed flows (everything else between instances is denied):")
    for flow in topology.flows:
        source = "anyone outside (world)" if flow.source == WORLD else flow.source
        lines.append(f"  {source:<22} → {flow.target}:{flow.port}")
    lines.append("Wirings (default first):")
    for name, wirings in topology.wirings:
        lines.append(f"  {name:<7} {', '.join(wirings)}")
    if topology.single_network is not None:
        single = topology.single_network
        lines.append(f"  single: one network {single.name} {single.subnet} for every service")
    if mode is not None:
        wiring = wiring or topology.wiring(mode)
        lines.append(f"Wiring in use: {mode} {wiring or '(none: loopback)'}; networks per service:")
        for service in topology.start_order():
            lines.append(
                f"  {service.name:<9} {', '.join(topology.attachments(service.name, wiring))}"
            )
    return "\n".join(lines) + "\n"


def _gateway(topology: Topology, scale: dict[str, int]) -> str:
    for instance in topology.plan(scale):
        if instance.service.name == "gateway":
            return f"{instance.address}:{instance.port}"
    return "?"
