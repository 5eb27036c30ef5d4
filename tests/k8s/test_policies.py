"""The NetworkPolicies allow exactly the topology's flows, as an established analyzer sees them.

network-config-analyzer (IBM's NP-Guard, `nca`) computes the connectivity the
rendered manifests allow — next to neighbours that are not ours (bystanders.yaml) —
and the test compares it with the flows the topology names, both ways: every flow
is allowed, and nothing else to or from our namespace is. Further tests break the
policies on purpose and check that the comparison notices, so it cannot pass by
seeing nothing.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

import shopnet_k8s
from shopnet.topology import default_topology
from shopnet.topology.model import WORLD, Topology
from tests.k8s import analyzer
from tests.k8s.conftest import NAMESPACE, load_documents

BYSTANDERS = Path(__file__).with_name("bystanders.yaml")
WORLD_BLOCKS = ("ip:0.0.0.0/0", "ip:::/0")
"""Anything outside the cluster, IPv4 and IPv6."""
KUBE_DNS = "kube-system/kube-dns"


def expected_flows(topology: Topology, namespace: str) -> set[analyzer.Flow]:
    """The topology's flows as connections, plus DNS for every service that calls another."""
    flows: set[analyzer.Flow] = set()
    for flow in topology.flows:
        sources = WORLD_BLOCKS if flow.source == WORLD else (f"{namespace}/{flow.source}",)
        flows |= {(src, f"{namespace}/{flow.target}", "TCP", flow.port) for src in sources}
    callers = {flow.source for flow in topology.flows if flow.source != WORLD}
    flows |= {
        (f"{namespace}/{caller}", KUBE_DNS, protocol, 53)
        for caller in callers
        for protocol in ("TCP", "UDP")
    }
    return flows


def analysed_flows(documents: list[dict[str, Any]], workdir: Path) -> set[analyzer.Flow]:
    """What nca allows to or from our namespace, for these manifests among the bystanders."""
    directory = workdir / "resources"
    directory.mkdir(parents=True)
    (directory / "shopnet.yaml").write_text(yaml.safe_dump_all(documents, sort_keys=False))
    shutil.copy(BYSTANDERS, directory)
    found = analyzer.connectivity(directory, workdir / "nca.json")
    ours = f"{NAMESPACE}/"
    return {f for f in found if f[0].startswith(ours) or f[1].startswith(ours)}


def difference(actual: set[analyzer.Flow], expected: set[analyzer.Flow]) -> str:
    missing = "\n".join(f"  missing: {f}" for f in sorted(expected - actual, key=str))
    extra = "\n".join(f"  extra:   {f}" for f in sorted(actual - expected, key=str))
    return "\n".join(part for part in (missing, extra) if part)


def render(topology: Topology) -> list[dict[str, Any]]:
    manifests = shopnet_k8s.render(topology, namespace=NAMESPACE, scale={"product": 3})
    return [doc for _, docs in sorted(manifests.files.items()) for doc in docs]


def test_the_analyzer_is_installed() -> None:
    """Fails, never skips, without it: `make nca` installs it from its own lock."""
    analyzer.require_nca()


def test_policies_allow_exactly_the_topology_flows(rendered: Path, tmp_path: Path) -> None:
    actual = analysed_flows(load_documents(rendered), tmp_path)
    expected = expected_flows(default_topology(), NAMESPACE)
    assert actual == expected, difference(actual, expected)


def test_the_policies_follow_the_topology(tmp_path: Path) -> None:
    """Drop a flow (order → product) from the model: the policies drop it too."""
    topology = default_topology()
    reduced = dataclasses.replace(
        topology,
        flows=tuple(f for f in topology.flows if (f.source, f.target) != ("order", "product")),
    )
    actual = analysed_flows(render(reduced), tmp_path)
    assert (f"{NAMESPACE}/order", f"{NAMESPACE}/product", "TCP", 3001) not in actual
    assert actual == expected_flows(reduced, NAMESPACE), difference(
        actual, expected_flows(reduced, NAMESPACE)
    )


def test_a_pod_no_service_policy_selects_is_denied(tmp_path: Path) -> None:
    """A stray pod of ours (say, a debug shell) gets no flow at all: default deny.

    Without the default-deny policy it would be open both ways, which the analysis shows.
    """
    documents = render(default_topology())
    stray = next(doc for doc in documents if doc["kind"] == "Deployment")
    stray = yaml.safe_load(yaml.safe_dump(stray))
    stray["metadata"]["name"] = "debug"
    stray["spec"]["selector"]["matchLabels"] = {"app.kubernetes.io/name": "debug"}
    stray["spec"]["template"]["metadata"]["labels"] = {"app.kubernetes.io/name": "debug"}
    with_stray = [*documents, stray]
    actual = analysed_flows(with_stray, tmp_path / "deny")
    assert not {f for f in actual if f"{NAMESPACE}/debug" in f[:2]}
    without_deny = [d for d in with_stray if d["metadata"]["name"] != "default-deny"]
    open_flows = analysed_flows(without_deny, tmp_path / "open")
    assert {f for f in open_flows if f"{NAMESPACE}/debug" in f[:2]}


def test_the_comparison_sees_the_and_or_trap(tmp_path: Path) -> None:
    """kube-dns's two selectors split into two peers would open all of kube-system."""
    documents = render(default_topology())
    dns = next(doc for doc in documents if doc["metadata"]["name"] == "allow-dns")
    (peer,) = dns["spec"]["egress"][0]["to"]
    dns["spec"]["egress"][0]["to"] = [{key: value} for key, value in peer.items()]
    actual = analysed_flows(documents, tmp_path)
    extra = actual - expected_flows(default_topology(), NAMESPACE)
    assert (f"{NAMESPACE}/gateway", "kube-system/metrics-server", "UDP", 53) in extra


def test_the_comparison_sees_a_missing_rule(tmp_path: Path) -> None:
    documents = render(default_topology())
    registry = next(
        doc
        for doc in documents
        if doc["kind"] == "NetworkPolicy" and doc["metadata"]["name"] == "registry"
    )
    del registry["spec"]["ingress"]
    actual = analysed_flows(documents, tmp_path)
    missing = expected_flows(default_topology(), NAMESPACE) - actual
    assert {f[0] for f in missing} == {f"{NAMESPACE}/{s}" for s in ("gateway", "product", "order")}
    assert {f[1] for f in missing} == {f"{NAMESPACE}/registry"}


@pytest.mark.parametrize("service", ["postgres", "redis"])
def test_the_database_tier_reaches_nothing(rendered: Path, tmp_path: Path, service: str) -> None:
    """Internal tier: no egress at all, not even DNS (the netns mode gives it no route out)."""
    actual = analysed_flows(load_documents(rendered), tmp_path)
    assert not {f for f in actual if f[0] == f"{NAMESPACE}/{service}"}
