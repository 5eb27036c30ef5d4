"""`shopnet topology`: the plan in words — tiers, instances with addresses, allowed flows."""

from __future__ import annotations

from shopnet.topology.model import WORLD, Topology


def describe(topology: Topology, scale: dict[str, int]) -> str:
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
    return "\n".join(lines) + "\n"


def _gateway(topology: Topology, scale: dict[str, int]) -> str:
    for instance in topology.plan(scale):
        if instance.service.name == "gateway":
            return f"{instance.address}:{instance.port}"
    return "?"
