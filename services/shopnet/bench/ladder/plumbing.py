"""The ladder's network: namespaces, veths, bridges, rules and containers, all tagged `ladder`.

Every object carries TAG in its name (namespaces `ladder-*`, links `ladder*`, the nftables
table `ladder`, containers/network `ladder-*` with the label LABEL), so teardown finds
them by name alone — after a clean run, a failure, or a `kill -9` of the bench — and
never touches anything else. Links live inside the ladder's own namespaces (they vanish
with them): nothing is added to the host's network namespace.

The host's side of the netns rows is a *simulated host*, a namespace of its own, because
with Docker running the real host's FORWARD policy is DROP and br_netfilter hands
bridged frames to it (field notes 3, §1). The simulated hosts copy the real host's
br_netfilter switches, so a bridged frame pays what it pays on the host, minus Docker's
own rules; the report records both.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

from shopnet.errors import DriverError, ShopnetError
from shopnet.hostnet.tools import run

TAG = "ladder"
NS_PREFIX = f"{TAG}-"
LABEL = "shopnet.ladder=1"
IMAGE = "shopnet-ladder:pause"
PROBE_COMMANDS = ("sockperf", "iperf3")
BRIDGE_NF = ("bridge-nf-call-iptables", "bridge-nf-call-ip6tables", "bridge-nf-call-arptables")


def ip(*args: str, what: str = "ladder: ip") -> None:
    run(["ip", *args], what=what)


def in_ns(ns: str, *args: str, what: str = "ladder: ip netns exec") -> None:
    run(["ip", "netns", "exec", ns, *args], what=what)


def sysctl(ns: str, key: str, value: str) -> None:
    """Write a sysctl inside a namespace (its /proc/sys is the namespace's own)."""
    in_ns(ns, "sysctl", "-qw", f"{key}={value}", what=f"ladder: sysctl {key} in {ns}")


def add_ns(name: str) -> str:
    assert name.startswith(NS_PREFIX), name
    ip("netns", "add", name, what=f"ladder: create namespace {name}")
    ip("-n", name, "link", "set", "lo", "up")
    return name


def host_bridge_nf() -> dict[str, str]:
    """The real host's br_netfilter switches (empty when the module is not loaded)."""
    found = {}
    for key in BRIDGE_NF:
        path = Path("/proc/sys/net/bridge") / key
        with contextlib.suppress(OSError):
            found[key] = path.read_text().strip()
    return found


def add_host(name: str) -> str:
    """A simulated host: forwards, and treats bridged frames as the real host does."""
    add_ns(name)
    sysctl(name, "net.ipv4.ip_forward", "1")
    for key, value in host_bridge_nf().items():
        # Per-namespace since Linux 5.3; an older kernel shares the host's, which is the same.
        with contextlib.suppress(ShopnetError):
            sysctl(name, f"net.bridge.{key}", value)
    return name


def veth(left_ns: str, left: str, right_ns: str, right: str, *, mtu: int | None = None) -> None:
    """A veth pair with one end in each namespace, both up."""
    assert left.startswith(TAG) and right.startswith(TAG), (left, right)
    ip("-n", left_ns, "link", "add", left, "type", "veth", "peer", "name", right,
       "netns", right_ns, what=f"ladder: veth {left}/{right}")  # fmt: skip
    for ns, name in ((left_ns, left), (right_ns, right)):
        if mtu:
            ip("-n", ns, "link", "set", name, "mtu", str(mtu))
        ip("-n", ns, "link", "set", name, "up")


def bridge(ns: str, name: str, address: str | None = None) -> None:
    assert name.startswith(TAG), name
    ip("-n", ns, "link", "add", name, "type", "bridge", what=f"ladder: bridge {name}")
    if address:
        ip("-n", ns, "addr", "add", address, "dev", name)
    ip("-n", ns, "link", "set", name, "up")


def enslave(ns: str, port: str, master: str) -> None:
    ip("-n", ns, "link", "set", port, "master", master)


def address(ns: str, dev: str, cidr: str) -> None:
    ip("-n", ns, "addr", "add", cidr, "dev", dev)


def default_route(ns: str, via: str) -> None:
    ip("-n", ns, "route", "add", "default", "via", via)


def nft(ns: str, ruleset: str) -> None:
    run(["ip", "netns", "exec", ns, "nft", "-f", "-"], stdin=ruleset, what=f"ladder: nft in {ns}")


def vxlan(ns: str, name: str, *, vni: int, local: str, remote: str, dev: str) -> None:
    assert name.startswith(TAG), name
    ip("-n", ns, "link", "add", name, "type", "vxlan", "id", str(vni), "local", local,
       "remote", remote, "dstport", "4789", "dev", dev, what=f"ladder: vxlan {name}")  # fmt: skip
    ip("-n", ns, "link", "set", name, "up")


# -- containers ---------------------------------------------------------------------


def docker_binary() -> str | None:
    from shutil import which

    return which("docker")


def docker(*args: str, what: str = "ladder: docker", timeout: float = 60.0) -> str:
    return run(["docker", *args], what=what, timeout=timeout).stdout.strip()


def docker_ready() -> bool:
    if docker_binary() is None:
        return False
    try:
        docker("info", "--format", "{{.ServerVersion}}", timeout=10)
    except ShopnetError:
        return False
    return True


def ensure_image() -> str:
    """A two-megabyte image that only sleeps: the host's own `sleep` and its libraries,
    imported from a tarball (no registry, no build). The probes run in the container's
    namespace through nsenter, so the image needs nothing else."""
    with contextlib.suppress(ShopnetError):
        docker("image", "inspect", IMAGE, what="ladder: image inspect")
        return IMAGE
    sleep = Path("/bin/sleep").resolve()
    ldd = subprocess.run(["ldd", str(sleep)], capture_output=True, text=True, check=False)
    libs = [part for line in ldd.stdout.splitlines() for part in line.split()
            if part.startswith("/")]  # fmt: skip
    files = [str(sleep), *libs]
    tar = subprocess.run(
        ["tar", "-c", "--dereference", "-P", "--transform", f"s|^{sleep}|/sleep|", *files],
        capture_output=True,
        check=False,
    )
    if tar.returncode != 0:
        raise DriverError(f"ladder: could not pack the sleep image: {tar.stderr.decode()[-200:]}")
    docker_path = docker_binary() or "docker"
    out = subprocess.run(
        [docker_path, "import", "--change", 'CMD ["/sleep", "infinity"]', "-", IMAGE],
        input=tar.stdout,
        capture_output=True,
        check=False,
        timeout=60,
    )
    if out.returncode != 0:
        raise DriverError(f"ladder: docker import failed: {out.stderr.decode()[-200:]}")
    return IMAGE


def container_pid(name: str) -> int:
    return int(docker("inspect", "-f", "{{.State.Pid}}", name))


# -- teardown -----------------------------------------------------------------------


def ladder_namespaces() -> list[str]:
    out = run(["ip", "netns", "list"], what="ladder: list namespaces").stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(NS_PREFIX)]


def kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def probes_in_netns(netns_inode: str) -> list[int]:
    """Our probe processes (sockperf, iperf3) whose network namespace is `netns_inode`."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            comm = Path(entry.path, "comm").read_text().strip()
            if comm in PROBE_COMMANDS and os.readlink(f"{entry.path}/ns/net") == netns_inode:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def ladder_containers() -> list[str]:
    if not docker_ready():
        return []
    out = docker("ps", "-a", "--filter", f"label={LABEL}", "--format", "{{.Names}}")
    return [n for n in out.split() if n.startswith(NS_PREFIX)]


def ladder_networks() -> list[str]:
    if not docker_ready():
        return []
    out = docker("network", "ls", "--filter", f"label={LABEL}", "--format", "{{.Name}}")
    return [n for n in out.split() if n.startswith(NS_PREFIX)]
