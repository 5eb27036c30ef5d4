"""Coexisting with Docker's iptables rules: ACCEPTs for our bridges, tagged with our comment.

When Docker enables forwarding it sets the iptables FORWARD policy to DROP
(moby #39439) and loads br_netfilter, so even traffic between two instances on
one of our bridges would meet that DROP (moby #48411). Both Docker's chains and
our nftables table run; a drop in either wins. So where Docker's documented
hook `DOCKER-USER` exists (else in FORWARD, when its policy is DROP) we insert
`-i <bridge> -j ACCEPT` and `-o <bridge> -j ACCEPT` for our bridges, each with
`-m comment --comment <prefix>`. Our nftables table still enforces the policy.

iptables has two backends that keep separate rule sets (moby/libnetwork
#2331): `iptables --version` says which one the `iptables` command (and so
Docker) uses, and legacy tables in use show in /proc/net/ip_tables_names. We
act on every backend that holds a FORWARD DROP or a DOCKER-USER chain, through
that backend's own binaries, and teardown removes exactly the lines carrying
our comment, with iptables-restore --noflush (atomic per backend), leaving
every other rule as it was.
"""

from __future__ import annotations

import itertools
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

from shopnet.errors import DriverError
from shopnet.hostnet import tools
from shopnet_netns.names import Names

LEGACY_TABLES = Path("/proc/net/ip_tables_names")


@dataclass(frozen=True, slots=True)
class Backend:
    """One iptables backend and the binaries that speak to it."""

    name: str
    """`nf_tables` or `legacy`."""
    iptables: str
    save: str
    restore: str


def _backend(name: str) -> Backend | None:
    infix = "nft" if name == "nf_tables" else "legacy"
    binaries = [f"iptables-{infix}", f"iptables-{infix}-save", f"iptables-{infix}-restore"]
    if all(shutil.which(b) for b in binaries):
        return Backend(name, *binaries)
    return None


def default_backend() -> Backend:
    """The backend `iptables` (and so Docker) uses."""
    out = tools.run(["iptables", "--version"], what="iptables --version")
    name = "legacy" if "legacy" in out.stdout else "nf_tables"
    return _backend(name) or Backend(name, "iptables", "iptables-save", "iptables-restore")


def backends() -> list[Backend]:
    """Backends that may hold rules: the default one, plus legacy when its tables are in use."""
    found = [default_backend()]
    try:
        legacy_in_use = bool(LEGACY_TABLES.read_text().split())
    except OSError:
        legacy_in_use = False
    if legacy_in_use and found[0].name != "legacy" and (legacy := _backend("legacy")):
        found.append(legacy)
    return found


def save(backend: Backend) -> str:
    return tools.run([backend.save], what=backend.save).stdout


def _target_chain(dump: str) -> str | None:
    """Where our ACCEPTs go in this backend's filter table, or None if nothing blocks us."""
    chains = {}
    table = ""
    for line in dump.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif line.startswith(":") and table == "filter":
            name, policy, *_ = line[1:].split()
            chains[name] = policy
    if "DOCKER-USER" in chains:
        return "DOCKER-USER"
    if chains.get("FORWARD") == "DROP":
        return "FORWARD"
    return None


def our_rules(names: Names, dump: str) -> list[tuple[str, str]]:
    """(table, rule line) of every rule in an iptables-save dump that carries our comment."""
    found = []
    table = ""
    for line in dump.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif line.startswith("-A "):
            words = shlex.split(line)
            if any(a == "--comment" and b == names.comment for a, b in itertools.pairwise(words)):
                found.append((table, line))
    return found


def _restore(backend: Backend, by_table: dict[str, list[str]], what: str) -> None:
    script = "".join(
        f"*{table}\n" + "".join(f"{line}\n" for line in lines) + "COMMIT\n"
        for table, lines in by_table.items()
        if lines
    )
    if script:
        tools.run([backend.restore, "-w", "5", "--noflush"], stdin=script, what=what)


def ensure(names: Names, bridges: list[str]) -> list[str]:
    """Insert our ACCEPTs wherever a backend would drop our traffic; returns "<backend> <chain>"."""
    placed = []
    for backend in backends():
        dump = save(backend)
        chain = _target_chain(dump)
        # One transaction: drop any previous copies of ours, then insert afresh.
        lines = [f"-D {line[3:]}" for table, line in our_rules(names, dump) if table == "filter"]
        if chain is not None:
            tag = f"-m comment --comment {shlex.quote(names.comment)} -j ACCEPT"
            for bridge in bridges:
                lines.append(f"-I {chain} 1 -i {bridge} {tag}")
                lines.append(f"-I {chain} 1 -o {bridge} {tag}")
            placed.append(f"{backend.name} {chain}")
        what = f"adding ACCEPT rules for our bridges ({backend.name})"
        _restore(backend, {"filter": lines}, what)
    return placed


def find(names: Names) -> list[str]:
    """Our rules, as "<backend>: -t <table> -A …" lines."""
    return [
        f"{backend.name}: -t {table} {line}"
        for backend in backends()
        for table, line in our_rules(names, save(backend))
    ]


def remove(names: Names) -> tuple[list[str], list[str]]:
    """Delete every rule carrying our comment, in every backend; (removed, problems)."""
    removed: list[str] = []
    problems: list[str] = []
    for backend in backends():
        by_table: dict[str, list[str]] = {}
        rules = our_rules(names, save(backend))
        for table, line in rules:
            by_table.setdefault(table, []).append(f"-D {line[3:]}")
        try:
            _restore(backend, by_table, f"removing our iptables rules ({backend.name})")
        except DriverError as exc:
            problems.append(str(exc))
            continue
        removed += [f"iptables rule ({backend.name} {table}) {line}" for table, line in rules]
    return removed, problems
