"""The exposure score of one instance, in the spirit of `systemd-analyze security`.

Each check that fails adds its weight; the score is
⌈Σ failed weights · 100 / Σ all weights⌉ / 10, so 0.0 means every check passed
and 10.0 that none did. Labels follow systemd's: 0 PERFECT, >0 SAFE, ≥1 OK,
≥5 MEDIUM, ≥7.5 EXPOSED, ≥9 UNSAFE, ≥10 DANGEROUS. Weights (systemd's own where
there is an equivalent — PrivateNetwork 2500, User= 2000, capabilities 1500,
PrivateTmp/ProtectSystem/NoNewPrivileges 1000, ProtectHostname 50):

    shares the host's network namespace     2500
    runs as root (uid 0)                    2000
    has effective capabilities              1500
    has a bounding capability set           1000
    no_new_privs not set                    1000
    no seccomp filter                       1000
    shares the host's mount namespace       1000
    root file system writable               1000
    shows the host's /run, /home or /root   1000
    shares the host's PID namespace         1000
    shares the host's user namespace        1000
    shares the host's IPC namespace          500
    shares the host's cgroup namespace       500
    no memory limit                          500
    no pids limit                            500
    no CPU limit                             200
    shares the host's UTS namespace           50
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from shopnet.audit.probe import Facts


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    weight: int
    fails: Callable[[Facts, dict[str, bool]], bool]
    """(facts, shared namespaces) → True when the instance is exposed on this point."""


def _shares(ns: str) -> Callable[[Facts, dict[str, bool]], bool]:
    return lambda facts, shared: shared.get(ns, True)


CHECKS = (
    Check("network namespace shared with the host", 2500, _shares("net")),
    Check("runs as root", 2000, lambda f, s: f.uid == 0),
    Check("effective capabilities", 1500, lambda f, s: f.cap_eff != 0),
    Check("bounding capabilities", 1000, lambda f, s: f.cap_bnd != 0),
    Check("no_new_privs not set", 1000, lambda f, s: not f.no_new_privs),
    Check("no seccomp filter", 1000, lambda f, s: f.seccomp == 0),
    Check("mount namespace shared with the host", 1000, _shares("mnt")),
    Check("root file system writable", 1000, lambda f, s: f.root_writable),
    # systemd's ProtectHome= and InaccessiblePaths=/run: unknown (not compared) counts as shown.
    Check(
        "host's /run, /home or /root visible",
        1000,
        lambda f, s: f.visible_host_paths is None or bool(f.visible_host_paths),
    ),
    Check("PID namespace shared with the host", 1000, _shares("pid")),
    Check("user namespace shared with the host", 1000, _shares("user")),
    Check("IPC namespace shared with the host", 500, _shares("ipc")),
    Check("cgroup namespace shared with the host", 500, _shares("cgroup")),
    Check("no memory limit", 500, lambda f, s: f.memory_limit is None),
    Check("no pids limit", 500, lambda f, s: f.pids_limit is None),
    Check("no CPU limit", 200, lambda f, s: f.cpu_limit is None),
    Check("UTS namespace shared with the host", 50, _shares("uts")),
)


def exposure(facts: Facts, shared: dict[str, bool]) -> tuple[float, list[str]]:
    """(score 0.0 … 10.0, names of the failed checks)."""
    failed = [c for c in CHECKS if c.fails(facts, shared)]
    total = sum(c.weight for c in CHECKS)
    score = math.ceil(sum(c.weight for c in failed) * 100 / total) / 10
    return score, [c.name for c in failed]


def label(score: float) -> str:
    for bound, name in (
        (10, "DANGEROUS"),
        (9, "UNSAFE"),
        (7.5, "EXPOSED"),
        (5, "MEDIUM"),
        (1, "OK"),
    ):
        if score >= bound:
            return name
    return "SAFE" if score > 0 else "PERFECT"
