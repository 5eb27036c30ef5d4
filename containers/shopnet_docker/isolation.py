"""The isolation matrix of a docker stack, probed from inside the containers.

The same matrix as the netns mode's (every service's first instance against
every other service's port), with Docker's own expectations: Docker isolates
*networks*, not flows, so a pair that shares a network connects even where the
topology has no flow between them. Each cell says which: a topology flow, the
same network without a flow ("shared"), or blocked.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from shopnet.topology.model import Topology, Wiring
from shopnet_docker.engine import Docker
from shopnet_docker.stack import Container

# A bash probe: one line per target, "<address>:<port> open|refused|timeout|unreachable|error".
_PROBE = r"""
probe() {
    out=$(timeout 1.5 bash -c "exec 3<>/dev/tcp/$1/$2" 2>&1); rc=$?
    if [ $rc = 0 ]; then echo "$1:$2 open"
    elif [ $rc = 124 ]; then echo "$1:$2 timeout"
    else case "$out" in
        *refused*) echo "$1:$2 refused" ;;
        *unreachable*|*"No route"*) echo "$1:$2 unreachable" ;;
        *) echo "$1:$2 error $out" ;;
    esac; fi
}
"""


def probe(docker: Docker, container: str, targets: list[tuple[str, int]]) -> dict[str, str]:
    """Try TCP connections to `targets` from inside `container` (in parallel, bash /dev/tcp)."""
    calls = " ".join(f"probe {address} {port} &" for address, port in targets)
    out = docker.run(
        "exec", container, "bash", "-c", f"{_PROBE}\n{calls} wait",
        what=f"probing from {container}", timeout=30,
    )  # fmt: skip
    results = {}
    for line in out.stdout.splitlines():
        target, _, outcome = line.partition(" ")
        results[target] = outcome.split()[0] if outcome else "?"
    return results


@dataclass(frozen=True, slots=True)
class Cell:
    source: str
    target: str
    port: int
    outcome: str
    """open, refused, timeout, unreachable, error."""
    expected: frozenset[str]
    reason: str
    """flow, shared (same network, no flow) or blocked."""

    @property
    def ok(self) -> bool:
        return self.outcome in self.expected


def expectation(
    topology: Topology, source: str, target: str, wiring: Wiring | None
) -> tuple[set[str], str]:
    """What a probe from `source` to `target`'s port should see, and why (flow, shared,
    blocked): the target is reached at its address on its home network (its tier; the
    one network when single), which connects whenever the source is attached to it."""
    wiring = wiring or Wiring.TIERED
    service = topology.service(target)
    if topology.allows(source, target, service.port):
        return {"open"}, "flow"
    home = topology.attachments(target, wiring)[0] if wiring is Wiring.SINGLE else service.tier
    if home in topology.attachments(source, wiring):
        return {"open"}, "shared"  # Docker does not filter within a network
    return {"timeout", "unreachable"}, "blocked"


def matrix(
    docker: Docker, topology: Topology, containers: list[Container], wiring: Wiring | None = None
) -> list[Cell]:
    """`wiring` says which networks each service shares (tiered: its tiers; single: all one)."""
    first = {c.service: c for c in containers if c.number == 1}
    sources = [s for s in topology.services if s.name in first]
    targets = {s.name: [t for t in sources if t.name != s.name] for s in sources}
    addresses = {t.name: first[t.name].address_on(t.tier) for t in sources}

    def from_source(name: str) -> dict[str, str]:
        wanted = [(addresses[t.name], t.port) for t in targets[name]]
        return probe(docker, first[name].name, wanted)

    # One `docker exec` per source, all at once: a blocked pair costs its 1.5 s timeout
    # once for the whole matrix, not once per source.
    with ThreadPoolExecutor(max_workers=max(1, len(sources))) as pool:
        outcomes = dict(zip(targets, pool.map(from_source, targets), strict=True))
    cells = []
    for source in sources:
        outcome = outcomes[source.name]
        for target in targets[source.name]:
            expected, reason = expectation(topology, source.name, target.name, wiring)
            got = outcome.get(f"{addresses[target.name]}:{target.port}", "?")
            cells.append(
                Cell(source.name, target.name, target.port, got, frozenset(expected), reason)
            )
    return cells


def format_matrix(cells: list[Cell]) -> str:
    """Rows: sources; columns: targets; a cell is the port when it connected (`*` when only
    because the two share a network, no flow), `-` when blocked, `!` when unexpected."""
    sources = list(dict.fromkeys(c.source for c in cells))
    targets = list(dict.fromkeys(c.target for c in cells))
    by_pair = {(c.source, c.target): c for c in cells}

    def text(cell: Cell | None) -> str:
        if cell is None:
            return "."
        shown = str(cell.port) if cell.outcome == "open" else "-"
        if cell.outcome == "open" and cell.reason == "shared":
            shown += "*"
        return shown + ("" if cell.ok else " !")

    rows = [["from \\ to", *targets]]
    rows += [[s, *(text(by_pair.get((s, t))) for t in targets)] for s in sources]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    bad = [c for c in cells if not c.ok]
    shared = sum(1 for c in cells if c.reason == "shared")
    lines.append(
        f"{len(cells)} probes: {len(cells) - len(bad)} as expected, {len(bad)} unexpected; "
        f"* = {shared} pairs connect only because they share a Docker network (no flow)"
    )
    lines += [
        f"  UNEXPECTED {c.source} -> {c.target}:{c.port}: {c.outcome}, expected {sorted(c.expected)}"
        for c in bad
    ]
    return "\n".join(lines)
