"""Local mode's placements and checks, and `shopnet down --volumes` with no stack running."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from shopnet.bench.targets import plan_targets
from shopnet.errors import PreflightError
from shopnet.runtime.local import LocalDriver
from shopnet.runtime.progress import Progress
from shopnet.topology import default_topology

DEFAULT_TOML = Path(__file__).parents[2] / "services/shopnet/topology/default.toml"


def driver(tmp_path: Path) -> LocalDriver:
    return LocalDriver(topology=default_topology(), root=tmp_path, progress=Progress(quiet=True))


def test_ports_of_every_instance(tmp_path: Path) -> None:
    local = driver(tmp_path)
    ports = {p.name: p.port for p in local.placements({"product": 2})}
    assert ports["gateway-1"] == 8080
    assert (ports["product-1"], ports["product-2"]) == (3001, 3011)
    assert (ports["postgres-1"], ports["redis-1"]) == (15432, 16379)
    assert {p.address for p in local.placements({})} == {"127.0.0.1"}
    assert local.peer_port() == 8081
    assert [t.name for t in plan_targets(local, [])] == ["gateway"]


def test_a_port_in_use_fails_preflight(tmp_path: Path) -> None:
    local = driver(tmp_path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        placements = [p for p in local.placements({}) if p.name == "registry-1"]
        taken = [type(p)(p.instance, bind=p.bind, address=p.address, port=port) for p in placements]
        with pytest.raises(PreflightError, match=f"port {port}"):
            local.check_placements({}, taken)


def shopnet(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shopnet", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=None if env is None else os.environ | env,
    )


def test_down_volumes_after_a_plain_down_deletes_the_data(tmp_path: Path) -> None:
    """Without --mode, as a user types it; a prefix of our own keeps every other mode's
    discovery away from a real stack on this host."""
    topology = tmp_path / "topology.toml"
    topology.write_text(
        DEFAULT_TOML.read_text().replace('prefix = "shopnet"', 'prefix = "snlocal"')
    )
    args = ["--state-dir", str(tmp_path / "state"), "--topology", str(topology)]
    data = tmp_path / "state" / "local" / "data"
    data.mkdir(parents=True)
    (data / "db-password").write_text("x\n")
    plain = shopnet(*args, "down")
    assert plain.returncode == 0 and "nothing of ours is running" in plain.stderr
    assert data.exists()  # a plain down keeps the data
    volumes = shopnet(*args, "down", "--volumes")
    assert volumes.returncode == 0, volumes.stderr
    assert f"removed data in {data}" in volumes.stderr
    assert not data.exists()


def test_a_plain_down_with_no_docker_engine_answering_finds_nothing(tmp_path: Path) -> None:
    """A host whose dockerd is stopped holds nothing of ours in Docker: `down` says so, where
    swarm's look for its network used to fail the whole command ("Cannot connect")."""
    topology = tmp_path / "topology.toml"
    topology.write_text(
        DEFAULT_TOML.read_text().replace('prefix = "shopnet"', 'prefix = "snnoengine"')
    )
    args = ["--state-dir", str(tmp_path / "state"), "--topology", str(topology)]
    absent = {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    plain = shopnet(*args, "down", env=absent)
    assert plain.returncode == 0, plain.stderr
    assert "nothing of ours is running" in plain.stderr
