"""Run IBM's network-config-analyzer (`nca`) on a manifest directory and read its answer.

nca does the NetworkPolicy semantics (policy types, peers, the AND/OR of selectors,
both ends of a connection); this module only turns its JSON connectivity map back
into explicit (source, destination, protocol, port) tuples. Its rules name the pods
they cover in one of three ways — `*` (the whole namespace), workload names ("order,
product"), or a label expression over the labels its policies use ("app.kubernetes.io/
name in (gateway,order)", `k=v`, `k!=v`, `k not in (…)`, `has(k)`, `!has(k)`, joined
by `and`/`or`: nca/FWRules/FWRule.py) — so each is evaluated against the pods the
manifests declare. Anything else fails the test rather than being guessed at.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

NCA = Path(__file__).parents[2] / ".venv-nca" / "bin" / "nca"
ALL = "all"
"""Protocol/port placeholder for nca's "All connections"."""

Flow = tuple[str, str, str, int | str]
"""(source, destination, protocol, port); endpoints are `ns/workload` or `ip:CIDR`."""


@dataclass(frozen=True, slots=True)
class Pod:
    namespace: str
    name: str
    """The workload's name (nca reports Deployments and StatefulSets by name), or the Pod's."""
    labels: dict[str, str]


def require_nca() -> Path:
    if not NCA.exists():
        raise AssertionError(
            f"{NCA} is missing: the NetworkPolicy tests need network-config-analyzer in its own "
            "venv; run `make nca` (make test does it)"
        )
    return NCA


def connectivity(directory: Path, out: Path) -> set[Flow]:
    """Every connection nca finds allowed between the pods and IP blocks in `directory`."""
    result = subprocess.run(
        # -r alone: every resource comes from the directory, nca never calls kubectl.
        [str(require_nca()), "--connectivity", "-r", str(directory), "-o", "json", "-f", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # 0/1 are query results; anything else (7: an error) means no answer.
    assert result.returncode in (0, 1) and out.exists(), (
        f"nca failed ({result.returncode}): {result.stdout[-2000:]} {result.stderr[-2000:]}"
    )
    pods = declared_pods(directory)
    flows: set[Flow] = set()
    for query in json.loads(out.read_text()):
        for explanation in query["explanation"]:
            for rule in explanation["rules"]:
                flows |= _expand(rule, pods)
    return flows


def declared_pods(directory: Path) -> list[Pod]:
    pods = []
    for path in sorted(directory.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            meta = doc["metadata"]
            if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
                labels = doc["spec"]["template"]["metadata"]["labels"]
                pods.append(Pod(meta["namespace"], meta["name"], labels))
            elif doc["kind"] == "Pod":
                pods.append(Pod(meta["namespace"], meta["name"], meta.get("labels", {})))
    return pods


def _expand(rule: dict[str, Any], pods: list[Pod]) -> set[Flow]:
    known = {"src_ns", "src_pods", "dst_ns", "dst_pods", "src_ip_block", "dst_ip_block"}
    assert set(rule) - {"connection"} <= known, f"unexpected nca rule fields: {rule}"
    sources = _endpoints(rule, "src", pods)
    destinations = _endpoints(rule, "dst", pods)
    connections = _connections(rule["connection"])
    return {
        (src, dst, protocol, port)
        for src in sources
        for dst in destinations
        for protocol, port in connections
        # A pod's traffic to itself is no policy's business (Kubernetes never blocks it), and
        # nca models one pod per workload: (x, x) says nothing about the manifests.
        if src != dst
    }


def _endpoints(rule: dict[str, Any], side: str, pods: list[Pod]) -> set[str]:
    if f"{side}_ip_block" in rule:
        return {f"ip:{block}" for block in rule[f"{side}_ip_block"]}
    found = set()
    for namespace in rule[f"{side}_ns"]:
        in_namespace = [p for p in pods if p.namespace == namespace]
        for selection in rule[f"{side}_pods"]:
            found |= {f"{namespace}/{p.name}" for p in _select(selection, in_namespace)}
    return found


def _select(selection: str, pods: list[Pod]) -> list[Pod]:
    if selection == "*":
        return pods
    if not re.search(r"[=()]", selection):  # workload names, "a, b"
        names = {name.strip() for name in selection.split(",")}
        chosen = [p for p in pods if p.name in names]
        assert len(chosen) == len(names), f"nca names pods the manifests lack: {selection}"
        return chosen
    return [p for p in pods if _matches(selection, p.labels)]


def _matches(expr: str, labels: dict[str, str]) -> bool:
    expr = _unwrap(expr.strip())
    for operator, combine in ((" or ", any), (" and ", all)):
        parts = _split_top(expr, operator)
        if len(parts) > 1:
            return combine(_matches(part, labels) for part in parts)
    if m := re.fullmatch(r"!has\(([^()]+)\)", expr):
        return m[1] not in labels
    if m := re.fullmatch(r"has\(([^()]+)\)", expr):
        return m[1] in labels
    if m := re.fullmatch(r"(\S+) not in \(([^()]*)\)", expr):
        return labels.get(m[1]) not in m[2].split(",")
    if m := re.fullmatch(r"(\S+) in \(([^()]*)\)", expr):
        return labels.get(m[1]) in m[2].split(",")
    if m := re.fullmatch(r"([^=!\s]+)!=(\S+)", expr):
        return labels.get(m[1]) != m[2]
    if m := re.fullmatch(r"([^=!\s]+)=(\S+)", expr):
        return labels.get(m[1]) == m[2]
    raise AssertionError(f"cannot read nca's pod expression {expr!r}")


def _unwrap(expr: str) -> str:
    """`(x)` or `{x}` → `x`, when the brackets enclose the whole expression."""
    while expr[:1] in "({" and _close(expr, 0) == len(expr) - 1:
        expr = expr[1:-1].strip()
    return expr


def _close(expr: str, start: int) -> int:
    depth = 0
    for i, char in enumerate(expr[start:], start):
        depth += char in "({"
        depth -= char in ")}"
        if depth == 0:
            return i
    return -1


def _split_top(expr: str, operator: str) -> list[str]:
    parts, depth, start, i = [], 0, 0, 0
    while i < len(expr):
        depth += expr[i] in "({"
        depth -= expr[i] in ")}"
        if depth == 0 and expr.startswith(operator, i):
            parts.append(expr[start:i])
            i += len(operator)
            start = i
            continue
        i += 1
    parts.append(expr[start:])
    return parts


def _connections(connection: list[Any]) -> set[tuple[str, int | str]]:
    found: set[tuple[str, int | str]] = set()
    for item in connection:
        if item == "All connections":
            found.add((ALL, ALL))
            continue
        assert set(item) <= {"protocols", "dst_ports"}, f"unexpected nca connection: {item}"
        protocols = [p.strip() for p in item["protocols"].split(",")]
        ports = item.get("dst_ports", [ALL])
        for protocol in protocols:
            for port in ports:
                found |= {(protocol, p) for p in _port_range(port)}
    return found


def _port_range(port: int | str) -> list[int | str]:
    if isinstance(port, int) or port == ALL:
        return [port]
    low, _, high = port.partition("-")
    if high and int(high) - int(low) < 1024:
        return list(range(int(low), int(high) + 1))
    return [port]  # a wide range: kept whole, it can only differ from what the test expects
