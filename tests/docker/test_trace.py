"""`shopnet trace` on a real docker stack (tiered): Docker's DNAT, and its isolation chains.

Docker's rules are iptables-nft, so the same nftables tracing sees DOCKER-USER,
the DOCKER-ISOLATION chains and the published port's DNAT in `ip nat DOCKER`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shopnet.runtime.variant import Variant
from shopnet.topology.model import Wiring
from shopnet.trace import command
from shopnet.trace.walk import End
from shopnet_docker.driver import DockerDriver
from shopnet_docker.engine import Docker
from shopnet_docker.images import BuildReport
from tests.docker.helpers import running_stack
from tests.trace.helpers import trace_leftovers

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.root]

PREFIX = "sntr"


@pytest.fixture(scope="module")
def stack(
    docker: Docker, images: BuildReport, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DockerDriver]:
    root = tmp_path_factory.mktemp("docker-trace")
    with running_stack(docker, root, prefix=PREFIX, variant=Variant(wiring=Wiring.TIERED)) as d:
        yield d


def test_outside_to_the_gateway_goes_through_dockers_dnat(stack: DockerDriver) -> None:
    walk = command.run_trace(stack, "outside", "gateway-1", None)
    assert walk.end is End.DELIVERED, walk
    rules = [r for p in walk.passes for h in p.hooks for r in h.rules]
    assert any(r.chain == "ip nat DOCKER" and "dnat" in r.rule for r in rules), rules
    assert any(n.startswith("host: ") and "DNAT" in n for n in walk.nat), walk.nat
    assert walk.verdict == "delivered — allowed: anyone outside (world) → gateway:3000"


def test_cross_network_denial_names_dockers_chain(stack: DockerDriver) -> None:
    walk = command.run_trace(stack, "gateway-1", "postgres-1", None)
    assert walk.end is End.DROPPED, walk
    assert "DOCKER-ISOLATION" in walk.end_detail or "DOCKER-USER" in walk.end_detail, walk
    assert walk.verdict.endswith("not allowed: gateway may not reach postgres"), walk.verdict
    chains = [h.chain for p in walk.passes for h in p.hooks]
    assert "ip filter FORWARD" in chains, chains
    places = stack.trace_places()
    assert trace_leftovers(PREFIX, places) == []


def test_exec_runs_network_tools_and_says_as_whom(stack: DockerDriver) -> None:
    note = stack.exec_note("gateway-1", ["ip", "-br", "addr"])
    assert "is not in the image" in note and "root (uid 0)" in note, note
    for argv in (["ip", "-br", "addr"], ["ss", "-tln"], ["ping", "-c", "1", "-W", "2", "127.0.0.1"],
                 ["tcpdump", "-D"]):  # fmt: skip
        assert stack.exec("gateway-1", argv) == 0, argv
    note = stack.exec_note("gateway-1", ["python3", "-c", "pass"])
    assert "as user 10001:10001" in note, note
    assert stack.exec("gateway-1", ["python3", "-c", "pass"]) == 0
