"""The two swarm nodes on one machine: this host's engine (manager) and a second dockerd.

Node 2 is a dockerd of ours inside a network namespace of ours (`<stack>-n2`),
with its own data root (in the state directory), exec root, pidfile, socket and
containerd namespace, joined over a veth pair (`<stack>-h` ↔ `<stack>-i`, the
underlay, UNDERLAY) as a worker. It is entered with `nsenter --net` only, never
`ip netns exec`, which would also give it a private mount namespace whose
container mounts the host's runc could not see.

The swarm is a stack's when the engine's swarm advertises our underlay address and
the manager node carries the stack's label (or, in the moment between `swarm init`
and the labelling, the `docker_gwbridge` we created for it does): `down` then
leaves it (and removes that gwbridge). The underlay alone is not enough: another
prefix's `down` would have left a swarm that serves a stack not its own. An
engine that is already in a swarm we did not make is refused, never joined,
deployed into or left.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Interface, IPv4Network
from pathlib import Path

from shopnet.errors import DriverError, PreflightError
from shopnet.runtime import nofollow
from shopnet_docker import names
from shopnet_docker.engine import Docker, last_lines

UNDERLAY = (IPv4Interface("10.97.0.1/30"), IPv4Interface("10.97.0.2/30"))
"""Manager and node 2 on their veth pair (the nodes' "physical" network)."""
DATA_PATH_PORT = 7789
"""VXLAN port of the overlays: not 4789, which the netns mode's hosts may use."""
ADDRESS_POOL = "10.96.0.0/16"
"""Swarm's pool for networks without a subnet (its ingress): clear of the tiers."""
GWBRIDGE = "docker_gwbridge"
GWBRIDGE_SUBNET = IPv4Network("10.97.16.0/24")
"""Our docker_gwbridge's subnet, given explicitly. Left to Docker it takes the next /16 of
the engine's default pools (172.17–31) that its allocator has not handed out lately, and
our unreachable routes do not stop it: after one up/down round (or the docker tests) it
was 172.20.0.0/16, which holds the first tier's subnet, and that overlay then failed on
this node with "Pool overlaps with other one on this address space" (issue 23)."""
STOP_GRACE = 20.0
MANAGER_WAIT = 30.0
GWBRIDGE_WAIT = 15.0


@dataclass(frozen=True, slots=True)
class SecondNode:
    """Where node 2 lives; nothing here runs until `start`."""

    stack: str
    data_root: Path

    @property
    def netns(self) -> str:
        return f"{self.stack}-n2"

    @property
    def host_veth(self) -> str:
        return f"{self.stack}-h"

    @property
    def inner_veth(self) -> str:
        return f"{self.stack}-i"

    @property
    def exec_root(self) -> Path:
        return Path("/run") / f"{self.stack}-n2"

    @property
    def pidfile(self) -> Path:
        return self.exec_root / "dockerd.pid"

    @property
    def host(self) -> str:
        return f"unix://{self.exec_root / 'docker.sock'}"

    def engine(self, docker: Docker) -> Docker:
        """A client of node 2 (the same binary, `-H` our socket)."""
        return NodeDocker(docker.binary, self.host)

    def present(self) -> list[str]:
        found = []
        if Path("/run/netns", self.netns).exists():
            found.append(f"namespace {self.netns}")
        if Path("/sys/class/net", self.host_veth).exists():
            found.append(f"interface {self.host_veth}")
        if self.pid():
            found.append(f"dockerd of node 2 (pid {self.pid()})")
        if self.data_root.exists():
            found.append(f"node 2's data root {self.data_root}")
        return found

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def start(self, docker: Docker, log: Path) -> None:
        manager, worker = UNDERLAY
        _ip("netns", "add", self.netns)
        _ip("link", "add", self.host_veth, "type", "veth", "peer", "name", self.inner_veth,
            "netns", self.netns)  # fmt: skip
        _ip("addr", "add", str(manager), "dev", self.host_veth)
        _ip("link", "set", self.host_veth, "up")
        _ip("-n", self.netns, "addr", "add", str(worker), "dev", self.inner_veth)
        _ip("-n", self.netns, "link", "set", self.inner_veth, "up")
        _ip("-n", self.netns, "link", "set", "lo", "up")
        _ip("-n", self.netns, "route", "add", "default", "via", str(manager.ip))
        self.data_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.exec_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        argv = [
            "nsenter", f"--net=/run/netns/{self.netns}", "dockerd",
            f"--data-root={self.data_root}", f"--exec-root={self.exec_root}",
            f"--pidfile={self.pidfile}", f"--host={self.host}",
            f"--containerd-namespace={self.stack}-n2",
            f"--containerd-plugins-namespace={self.stack}-n2-plugins",
            "--default-address-pool=base=10.95.0.0/16,size=24",
        ]  # fmt: skip
        # `setsid --fork`: dockerd outlives this process (as a daemon should) and leaves no
        # child of ours behind to reap; its pidfile is how `down` finds it.
        with nofollow.append_private(log) as out:
            subprocess.run(["setsid", "--fork", *argv], stdin=subprocess.DEVNULL, stdout=out,
                           stderr=subprocess.STDOUT, check=True, timeout=30)  # fmt: skip
        client = self.engine(docker)
        deadline = time.monotonic() + 60
        while True:
            try:
                client.ping(timeout=5.0)
                return
            except PreflightError:
                if time.monotonic() > deadline:
                    raise DriverError(
                        f"node 2's dockerd did not answer in 60 s; see {log}"
                    ) from None
                time.sleep(0.5)

    def stop(self) -> list[str]:
        """Stop node 2's dockerd, remove its data root, exec root, veth and namespace."""
        removed = []
        pid = self.pid()
        if pid:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE
            while self.pid() and time.monotonic() < deadline:
                time.sleep(0.2)
            if self.pid():
                os.kill(pid, signal.SIGKILL)
                time.sleep(0.5)
            removed.append(f"node 2's dockerd (pid {pid})")
        for root in (self.exec_root, self.data_root):
            if root.exists():
                _unmount_below(root)
                shutil.rmtree(root, ignore_errors=True)
                removed.append(f"{root}")
        if Path("/run/netns", self.netns).exists():
            _ip("netns", "del", self.netns, check=False)
            removed.append(f"namespace {self.netns}")
        if Path("/sys/class/net", self.host_veth).exists():
            _ip("link", "del", self.host_veth, check=False)
            removed.append(f"interface {self.host_veth}")
        return removed


class NodeDocker(Docker):
    """A docker client bound to one engine (`-H`), whatever DOCKER_HOST says."""

    def __init__(self, binary: str, host: str) -> None:
        super().__init__(binary)
        self._host = host

    @property
    def host(self) -> str:
        return self._host

    def run(
        self,
        *args: str,
        what: str,
        timeout: float = 60.0,
        check: bool = True,
        stdin: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return super().run(
            "--host",
            self._host,
            *args,
            what=what,
            timeout=timeout,
            check=check,
            stdin=stdin,
            env=env,
        )

    def ping(self, *, timeout: float = 15.0) -> str:
        out = subprocess.run(
            [self.binary, "--host", self._host, "version", "--format", "{{.Server.Version}}"],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        if out.returncode != 0 or not out.stdout.strip():
            raise PreflightError(f"the engine at {self._host} does not answer")
        return out.stdout.strip()


def swarm_state(docker: Docker) -> tuple[str, str]:
    """(LocalNodeState, NodeAddr) of an engine: `inactive`, `active` …, its swarm address."""
    out = docker.run(
        "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.NodeAddr}}", what="docker info"
    )
    state, _, address = out.stdout.strip().partition(" ")
    return state, address


def ours(docker: Docker, stack: str) -> bool:
    """Whether the engine's swarm is the one we initialised for `stack`."""
    state, address = swarm_state(docker)
    if state == "inactive" or address != str(UNDERLAY[0].ip):
        return False
    owner = owner_label(docker)
    return owner == stack if owner else bool(our_gwbridge(docker, stack))


def owner_label(docker: Docker) -> str:
    """The stack label of this (manager) node; "" when unlabelled or not a manager."""
    out = docker.run(
        "node", "inspect", "self", "--format",
        f'{{{{index .Spec.Labels "{names.LABEL_STACK}"}}}}',
        what="node inspect", check=False,
    )  # fmt: skip
    label = out.stdout.strip() if out.returncode == 0 else ""
    return "" if label == "<no value>" else label


def refuse_foreign_swarm(docker: Docker, stack: str) -> None:
    state, address = swarm_state(docker)
    if state == "inactive" or ours(docker, stack):
        return
    if address == str(UNDERLAY[0].ip):
        raise PreflightError(
            f"the Docker engine's swarm is shopnet's swarm stack {owner_label(docker) or '?'}; "
            "one swarm stack at a time: `shopnet down` that one first"
        )
    raise PreflightError(
        f"the Docker engine is already in a swarm ({state}, {address or 'no address'}) "
        "that shopnet did not create; swarm mode only runs on an engine outside any swarm"
    )


def init(docker: Docker, node2: Docker, stack: str) -> None:
    """Our gwbridge, `swarm init` on our underlay, node 2 joined, node labels set."""
    if not docker.lines("network", "ls", "-q", "--filter", f"name=^{GWBRIDGE}$", what="networks"):
        docker.run(
            "network", "create", "--driver", "bridge", "--subnet", str(GWBRIDGE_SUBNET),
            "--opt", f"com.docker.network.bridge.name={GWBRIDGE}",
            "--opt", "com.docker.network.bridge.enable_icc=false",
            "--opt", "com.docker.network.bridge.enable_ip_masquerade=true",
            "--label", f"{names.LABEL_STACK}={stack}", GWBRIDGE,
            what="creating docker_gwbridge",
        )  # fmt: skip
    manager, worker = UNDERLAY
    docker.run(
        "swarm", "init", f"--advertise-addr={manager.ip}", f"--listen-addr={manager.ip}:2377",
        f"--data-path-port={DATA_PATH_PORT}", f"--default-addr-pool={ADDRESS_POOL}",
        what="docker swarm init",
    )  # fmt: skip
    token = docker.run("swarm", "join-token", "-q", "worker", what="join token").stdout.strip()
    # Through the API, not `swarm join --token`: the token never appears in argv.
    _post(node2.host, "/swarm/join", {
        "JoinToken": token, "RemoteAddrs": [f"{manager.ip}:2377"],
        "AdvertiseAddr": str(worker.ip), "ListenAddr": f"{worker.ip}:2377",
    })  # fmt: skip
    wait_manager(docker)
    managers = docker.lines("node", "ls", "-q", "--filter", "role=manager", what="nodes")
    workers = docker.lines("node", "ls", "-q", "--filter", "role=worker", what="nodes")
    for number, nodes in ((1, managers), (2, workers)):
        for node in nodes:
            docker.run("node", "update", "--label-add", f"io.shopnet.node={number}",
                       "--label-add", f"{names.LABEL_STACK}={stack}", node,
                       what="labelling nodes")  # fmt: skip


def copy_image(source: Docker, target: Docker, tag: str, *, timeout: float = 300.0) -> None:
    """`docker save TAG | docker -H node2 load`: the image as built here, nothing pulled."""
    save = subprocess.Popen([source.binary, "save", tag], stdout=subprocess.PIPE)
    load = subprocess.run(
        [source.binary, "--host", target.host, "load", "-q"],
        stdin=save.stdout, capture_output=True, text=True, check=False, timeout=timeout,
    )  # fmt: skip
    if save.stdout is not None:
        save.stdout.close()
    if save.wait() != 0 or load.returncode != 0:
        raise DriverError(f"copying {tag} to node 2 failed: {load.stderr.strip()[-200:]}")


def wait_manager(docker: Docker, *, timeout: float = MANAGER_WAIT) -> None:
    """Until this engine's swarm control API is available (an active manager).

    Seconds after a `swarm leave`, a new `swarm init` returned and the nodes were labelled,
    yet `docker stack deploy` then found "this node is not a swarm manager" (issue 23's
    cycle, once in 4 swarm starts right after the tests' down); Docker's own check is
    ControlAvailable, so that is what we wait for.
    """
    deadline = time.monotonic() + timeout
    while True:
        out = docker.run(
            "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}",
            what="docker info", check=False,
        )  # fmt: skip
        if out.stdout.split() == ["active", "true"]:
            return
        if time.monotonic() > deadline:
            raise DriverError(
                f"this engine is not an active swarm manager {timeout:.0f} s after "
                f"`swarm init` ({out.stdout.strip() or last_lines(out.stderr)})"
            )
        time.sleep(0.5)


def leave(docker: Docker, node2: Docker | None, stack: str) -> list[str]:
    """Leave our swarm on both nodes and remove our docker_gwbridge; [] when not in one."""
    removed = []
    if node2 is not None:
        node2.run("swarm", "leave", "--force", what="node 2 leaving", check=False)
    if ours(docker, stack):
        out = docker.run("swarm", "leave", "--force", what="leaving the swarm", check=False)
        if out.returncode != 0:
            raise DriverError(f"docker swarm leave failed: {last_lines(out.stderr)}")
        removed.append("the swarm (this engine is no longer a swarm node)")
    # Right after leaving, the bridge still has the leaving node's endpoints ("has active
    # endpoints"); a bridge of ours left behind would refuse the next `up` (its subnet).
    deadline = time.monotonic() + GWBRIDGE_WAIT
    while gw := our_gwbridge(docker, stack):
        out = docker.run("network", "rm", *gw, what="gwbridge", check=False)
        if out.returncode == 0:
            removed.append(f"network {GWBRIDGE}")
            break
        if time.monotonic() > deadline:
            raise DriverError(f"our {GWBRIDGE} stays: {last_lines(out.stderr)}")
        time.sleep(0.5)
    return removed


def our_gwbridge(docker: Docker, stack: str) -> list[str]:
    """The id of the docker_gwbridge we created for `stack`, if it exists."""
    return docker.lines(
        "network", "ls", "-q", "--filter", f"name=^{GWBRIDGE}$",
        "--filter", f"label={names.LABEL_STACK}={stack}", what="networks",
    )  # fmt: skip


def _post(host: str, path: str, body: dict[str, object]) -> None:
    """POST JSON to an engine's API on its unix socket (`unix:///run/…/docker.sock`)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(90)
    sock.connect(host.removeprefix("unix://"))
    connection = http.client.HTTPConnection("localhost")
    connection.sock = sock
    try:
        connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        reply = connection.getresponse()
        text = reply.read().decode(errors="replace")
    finally:
        connection.close()
    if reply.status >= 300:
        raise DriverError(f"node 2 joining the swarm failed: {last_lines(text)}")


def _unmount_below(root: Path) -> None:
    """Mounts a killed dockerd left under `root` (overlays, netns files), deepest first."""
    mounts = [
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4].startswith(f"{root}/")
    ]
    for target in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True, check=False)


def _ip(*args: str, check: bool = True) -> None:
    out = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=15, check=False)
    if check and out.returncode != 0:
        raise DriverError(f"ip {' '.join(args[:3])} failed: {last_lines(out.stderr)}")
