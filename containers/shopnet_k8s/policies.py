"""The NetworkPolicy set: exactly the topology's flows, everything else denied.

NetworkPolicies only ever allow, and a pod is isolated in a direction once any
policy selects it for that direction; a connection needs egress allowed at its
source *and* ingress at its destination (replies are implicit). So:

- `default-deny` selects every pod of the namespace for Ingress and Egress, with no
  rule: nothing flows unless a policy below says so;
- `allow-dns`: the pods that call other services may ask kube-dns (UDP and TCP 53)
  — they reach their peers by Service name;
- one policy per service: ingress from the sources of its inbound flows, egress to
  the targets of its outbound flows, one rule per port.

The AND/OR trap: in a rule's `from`/`to` list each `-` item is one peer and the
items are ORed; selectors *inside* one item are ANDed. Every peer here is an item
of its own holding a single `podSelector` (which means: in this namespace), except
kube-dns, whose namespaceSelector and podSelector must sit in one item — two items
would open every pod of kube-system, and every pod labelled k8s-app=kube-dns in
any namespace. "world" (outside the cluster) is an ipBlock of everything; pods of
our namespace cannot use that door, as none of them has egress to it.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from shopnet.topology.model import WORLD, Service, Topology
from shopnet_k8s import objects

KUBE_DNS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
"""One peer: pods labelled k8s-app=kube-dns AND in kube-system (the two selectors together)."""
DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
WORLD_PEERS = [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}]
"""Anything outside the cluster, IPv4 and IPv6."""


def network_policies(topology: Topology, *, namespace: str) -> list[dict[str, Any]]:
    documents = [_default_deny(topology, namespace)]
    callers = [s for s in topology.services if any(f.source == s.name for f in topology.flows)]
    if callers:
        documents.append(_allow_dns(topology, namespace, callers))
    documents += [_service_policy(topology, s, namespace=namespace) for s in topology.services]
    return documents


def _policy(topology: Topology, name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": objects.metadata(name, namespace, objects.labels(topology)),
        "spec": spec,
    }


def _default_deny(topology: Topology, namespace: str) -> dict[str, Any]:
    return _policy(
        topology,
        "default-deny",
        namespace,
        {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    )


def _allow_dns(topology: Topology, namespace: str, callers: list[Service]) -> dict[str, Any]:
    pods = {"key": objects.NAME, "operator": "In", "values": [s.name for s in callers]}
    return _policy(
        topology,
        "allow-dns",
        namespace,
        {
            "podSelector": {"matchExpressions": [pods]},
            "policyTypes": ["Egress"],
            "egress": [{"to": [copy.deepcopy(KUBE_DNS)], "ports": copy.deepcopy(DNS_PORTS)}],
        },
    )


def _service_policy(topology: Topology, service: Service, *, namespace: str) -> dict[str, Any]:
    inbound = [(f.source, f.port) for f in topology.flows if f.target == service.name]
    outbound = [(f.target, f.port) for f in topology.flows if f.source == service.name]
    spec: dict[str, Any] = {
        "podSelector": {"matchLabels": objects.selector(service)},
        "policyTypes": ["Ingress", "Egress"],
    }
    if inbound:
        spec["ingress"] = [
            {"from": _peers(topology, peers), "ports": [_tcp(port)]}
            for port, peers in _by_port(inbound)
        ]
    if outbound:
        spec["egress"] = [
            {"to": _peers(topology, peers), "ports": [_tcp(port)]}
            for port, peers in _by_port(outbound)
        ]
    return _policy(topology, service.name, namespace, spec)


def _by_port(pairs: Iterable[tuple[str, int]]) -> list[tuple[int, list[str]]]:
    """(peer, port) pairs as one entry per port: a rule allows its peers on its ports."""
    grouped: dict[int, list[str]] = defaultdict(list)
    for peer, port in pairs:
        if peer not in grouped[port]:
            grouped[port].append(peer)
    return sorted(grouped.items())


def _peers(topology: Topology, names: list[str]) -> list[dict[str, Any]]:
    peers: list[dict[str, Any]] = []
    for name in names:
        if name == WORLD:
            peers += copy.deepcopy(WORLD_PEERS)
        else:
            peers.append({"podSelector": {"matchLabels": objects.selector(topology.service(name))}})
    return peers


def _tcp(port: int) -> dict[str, Any]:
    return {"protocol": "TCP", "port": port}
