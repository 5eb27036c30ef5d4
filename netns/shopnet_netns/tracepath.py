"""The netns mode's side of `shopnet trace`: the namespaces a probe may cross and their links.

Every namespace that can be on the path gets a trace table: the source's, the
target's and the host's own; with `--hosts N` also each simulated host's (the
real host then only carries the underlay, and the encapsulated packets, which
the trace rules do not match — the VXLAN hop is described from the plan).
"""

from __future__ import annotations

from shopnet.errors import ConfigError
from shopnet.runtime import ports
from shopnet.trace import words
from shopnet.trace.route import HOST, OUTSIDE, Place, TraceRoute
from shopnet_netns import namespaces
from shopnet_netns.hostplan import UPLINK, VXLAN_PORT
from shopnet_netns.plan import Endpoint, NetworkPlan


def _root_interfaces(plan: NetworkPlan) -> dict[str, str]:
    found = {b.name: f"{b.tier.name} bridge, the host's {b.address.ip}" for b in plan.bridges}
    for e in plan.endpoints:
        found[e.veth] = f"{e.name}'s veth, host end: port of {e.bridge}"
        for leg in e.legs:
            found[leg.veth] = f"{e.name}'s leg on {leg.tier.name}, host end: port of {leg.bridge}"
    if plan.underlay is not None:
        found = {
            plan.underlay.bridge: f"the underlay bridge, the host's {plan.underlay.address.ip}"
        }
        for host in plan.hosts:
            found[host.veth] = f"{host.name}'s underlay link: port of {plan.underlay.bridge}"
    return found


def _instance_interfaces(endpoint: Endpoint) -> dict[str, str]:
    found = {"eth0": f"{endpoint.name}'s {endpoint.address.ip} on {endpoint.instance.tier.name}"}
    for leg in endpoint.legs:
        found[leg.ifname] = f"{endpoint.name}'s leg {leg.address.ip} on {leg.tier.name}"
    return found


def _host_places(plan: NetworkPlan) -> list[Place]:
    places = []
    for host in plan.hosts:
        interfaces = {UPLINK: f"{host.name}'s underlay leg {host.uplink.ip}"}
        for bridge in host.bridges:
            interfaces[bridge.name] = (
                f"{bridge.tier.name} bridge in {host.name} ({bridge.address.ip})"
            )
        for vxlan in host.vxlans:
            interfaces[vxlan.name] = (
                f"VXLAN VNI {vxlan.vni} ({vxlan.tier.name}), UDP {VXLAN_PORT} over {UPLINK}: "
                f"port of {vxlan.tier.bridge}"
            )
        for e in plan.endpoints:
            if e.host == host.name:
                interfaces[e.veth] = f"{e.name}'s veth, {host.name} end: port of {e.bridge}"
        places.append(Place(host.name, str(namespaces.path(host.namespace)), interfaces))
    return places


def route(plan: NetworkPlan, source: str, target: str, port: int | None, mode: str) -> TraceRoute:
    try:
        dst = plan.endpoint(target)
    except KeyError:
        raise ConfigError(f"unknown instance {target!r}") from None
    topology = plan.topology
    target_service = dst.instance.service.name
    port = port or dst.instance.port
    root = Place("host", None, _root_interfaces(plan))
    hosts = _host_places(plan)
    notes: list[str] = []
    if source in (HOST, OUTSIDE):
        if source == OUTSIDE:
            words.check_outside_target(topology, target_service)
            address = ports.host_address()
            connect = (address, topology.published_port)
            _, target_port = words.world_facing(topology)
            port = target_port
        else:
            address = str(plan.admin_address(dst))
            connect = (str(dst.address.ip), port)
        source_place = root
        allowed, word = words.verdict(topology, source, target_service, port)
        places = [root, *_on_host_of(hosts, dst), _instance_place(dst)]
        if plan.underlay is not None:
            notes.append(
                f"the host routes {dst.address.ip}/32 via {dst.host}'s underlay address over "
                f"{plan.underlay.bridge} (plain routing, no VXLAN: the underlay is one segment)"
            )
    else:
        try:
            src = plan.endpoint(source)
        except KeyError:
            raise ConfigError(f"unknown instance {source!r} (or `host`, `outside`)") from None
        address = str(src.address_on(dst.instance.tier.name))
        connect = (str(dst.address.ip), port)
        source_place = _instance_place(src)
        allowed, word = words.verdict(topology, src.instance.service.name, target_service, port)
        middle = (
            [root] if not hosts else _unique([*_on_host_of(hosts, src), *_on_host_of(hosts, dst)])
        )
        places = [source_place, *middle, _instance_place(dst)]
        notes += _vxlan_notes(plan, src, dst)
        if any(leg.tier.name == dst.instance.tier.name for leg in src.legs):
            notes.append(
                f"attached: {src.name} has a leg on {dst.instance.tier.name}, so the host "
                f"bridges this connection on {dst.bridge} (br_netfilter passes it through the "
                "IP hooks) instead of routing it"
            )
    return TraceRoute(
        source=source, target=target, port=port, source_place=source_place,
        source_address=address, connect=connect, places=tuple(places), allowed=allowed,
        topology_word=word, notes=tuple(notes), mode=mode,
    )  # fmt: skip


def _instance_place(endpoint: Endpoint) -> Place:
    return Place(
        endpoint.name, str(namespaces.path(endpoint.namespace)), _instance_interfaces(endpoint)
    )


def _on_host_of(hosts: list[Place], endpoint: Endpoint) -> list[Place]:
    return [h for h in hosts if h.label == endpoint.host]


def _unique(places: list[Place]) -> list[Place]:
    seen: dict[str, Place] = {}
    for place in places:
        seen.setdefault(place.label, place)
    return list(seen.values())


def _vxlan_notes(plan: NetworkPlan, src: Endpoint, dst: Endpoint) -> list[str]:
    if src.host is None or src.host == dst.host:
        return []
    a, b = plan.host_of(src), plan.host_of(dst)
    assert a is not None and b is not None and plan.underlay is not None
    there = next(v for v in a.vxlans if v.tier.name == dst.instance.tier.name)
    back = next(v for v in b.vxlans if v.tier.name == src.instance.tier.name)
    return [
        f"VXLAN, once past {a.name}'s firewall: {a.name} bridges the request from "
        f"{there.tier.bridge} out of {there.name} "
        f"(VNI {there.vni}): encapsulated in UDP {VXLAN_PORT} {a.uplink.ip} → {b.uplink.ip} "
        f"across {plan.underlay.bridge}; {b.name}'s {there.name} decapsulates it onto its "
        f"{there.tier.bridge}",
        f"VXLAN back: {b.name} routes the answer into {back.tier.bridge}, out of {back.name} "
        f"(VNI {back.vni}), UDP {VXLAN_PORT} {b.uplink.ip} → {a.uplink.ip}",
    ]
