"""The probe: a POSIX sh script run *inside* an instance, and what its output says.

It runs where the instance runs — in netns/local mode in every namespace of the
instance's main process (`nsenter --all`), in docker mode through `docker exec` —
so mounts, /proc and cgroups are seen as the instance sees them. It needs only
sh, cat and readlink, which every image we run has. Its first argument is the
main process's pid *as seen inside* (1 in a PID namespace of its own); when that
is an init with one child, the child — the service — is what gets described.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

NAMESPACES = ("net", "mnt", "pid", "ipc", "uts", "user", "cgroup")
MASKED_PATHS = ("/run", "/var/run", "/home", "/root")
"""Host paths a sandbox should not show: the host's UNIX sockets, people's files."""
UNSEEN = ("absent", "hidden")
"""What the probe says of a masked path it cannot see at all."""

SCRIPT = r"""
s=$1
# Past an init (docker's, or the netns sandbox's forwarding sh) to the service it runs.
case "$(cat /proc/$s/comm 2>/dev/null)" in
  sh|docker-init|tini)
    set -- $(cat /proc/$s/task/$s/children 2>/dev/null)
    [ $# -eq 1 ] && s=$1 ;;
esac
echo "== status"; cat /proc/$s/status
echo "== ns"
for n in net mnt pid ipc uts user cgroup; do
  l=$(readlink /proc/$s/ns/$n 2>/dev/null || readlink /proc/self/ns/$n)
  echo "$n $l"
done
echo "== root"
while read -r _ _ _ _ mp opts _; do [ "$mp" = / ] && echo "$opts"; done </proc/self/mountinfo
echo "== procs"
n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo "$n"
echo "== limits"
while IFS=: read -r _ ctl path; do
  for base in "/sys/fs/cgroup/$ctl$path" "/sys/fs/cgroup/$ctl" "/sys/fs/cgroup$path" /sys/fs/cgroup; do
    for f in memory.max memory.limit_in_bytes cpu.max cpu.cfs_quota_us cpu.cfs_period_us pids.max; do
      [ -r "$base/$f" ] && echo "$f $(cat "$base/$f")"
    done
  done
done </proc/$s/cgroup
echo "== apparmor"; cat /proc/$s/attr/current 2>/dev/null || echo unconfined
echo "== mounts"
# For each path: the mount it is on (device, root within it), the longest mount point
# that holds it; the host's are compared with these (audit.collect).
for p in /run /var/run /home /root; do
  [ -d "$p" ] || { echo "$p absent"; continue; }
  r=$(cd "$p" 2>/dev/null && pwd -P) || { echo "$p hidden"; continue; }
  best=""; blen=-1
  while read -r _ _ dev root mp _; do
    case "$r" in "$mp"|"$mp"/*) ;; *) [ "$mp" = / ] || continue ;; esac
    [ ${#mp} -ge $blen ] && { blen=${#mp}; best="$dev $root"; }
  done </proc/self/mountinfo
  echo "$p $best"
done
"""

UNLIMITED_MEMORY = 1 << 60  # cgroup v1 reports "no limit" as a huge page-rounded number


@dataclass(frozen=True, slots=True)
class Facts:
    """What the probe saw for one instance."""

    uid: int
    gid: int
    cap_eff: int
    cap_bnd: int
    no_new_privs: bool
    seccomp: int
    """0 disabled, 1 strict, 2 filter."""
    namespaces: dict[str, str]
    """Namespace → its id, e.g. "net" → "net:[4026532281]"."""
    root_writable: bool
    visible_processes: int
    memory_limit: int | None
    """Bytes, None: unlimited."""
    cpu_limit: float | None
    """CPUs, None: unlimited."""
    pids_limit: int | None
    apparmor: str
    mounts: dict[str, str] = field(default_factory=dict)
    """Each of MASKED_PATHS → the mount it is on ("<major:minor> <root>"), or UNSEEN."""
    visible_host_paths: tuple[str, ...] | None = None
    """Those of MASKED_PATHS that show the host's own (set by comparing with the host's
    mounts: `with_host_mounts`); None: not compared."""


def parse(output: str) -> Facts:
    sections: dict[str, list[str]] = {}
    current = ""
    for line in output.splitlines():
        if line.startswith("== "):
            current = line[3:].strip()
            sections[current] = []
        elif current:
            sections[current].append(line)
    status = dict(
        (k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in sections["status"])
    )
    namespaces = {}
    for line in sections.get("ns", []):
        name, _, ident = line.partition(" ")
        namespaces[name] = ident.strip()
    root_opts = (sections.get("root") or ["rw"])[-1].split(",")
    limits: dict[str, str] = {}
    for line in sections.get("limits", []):
        key, _, value = line.partition(" ")
        limits.setdefault(key, value.strip())  # the first (most specific) path wins
    return Facts(
        uid=int(status["Uid"].split()[1]),
        gid=int(status["Gid"].split()[1]),
        cap_eff=int(status["CapEff"], 16),
        cap_bnd=int(status["CapBnd"], 16),
        no_new_privs=status.get("NoNewPrivs") == "1",
        seccomp=int(status.get("Seccomp", "0")),
        namespaces=namespaces,
        root_writable="rw" in root_opts,
        visible_processes=int((sections.get("procs") or ["0"])[0]),
        memory_limit=_memory(limits),
        cpu_limit=_cpus(limits),
        pids_limit=_number(limits.get("pids.max")),
        apparmor=" ".join(sections.get("apparmor", [])).strip() or "unconfined",
        mounts=dict(
            (path, where.strip()) for path, _, where in map(_split, sections.get("mounts", []))
        ),
    )


def _split(line: str) -> tuple[str, str, str]:
    return line.partition(" ")


def host_mounts(mountinfo: Path = Path("/proc/self/mountinfo")) -> dict[str, str]:
    """What the probe's "mounts" section says, as seen from here (the host)."""
    lines = [line.split() for line in mountinfo.read_text().splitlines()]
    found: dict[str, str] = {}
    for path in MASKED_PATHS:
        if not os.path.isdir(path):
            found[path] = "absent"
            continue
        real = os.path.realpath(path)
        best, length = "", -1
        for fields in lines:
            device, root, point = fields[2], fields[3], fields[4]
            holds = real == point or real.startswith(point.rstrip("/") + "/")
            if holds and len(point) >= length:
                best, length = f"{device} {root}", len(point)
        found[path] = best
    return found


def with_host_mounts(facts: Facts, host: dict[str, str]) -> Facts:
    """`facts` with the masked paths that show the same mount inside as on the host."""
    visible = tuple(
        path
        for path in MASKED_PATHS
        if host.get(path, "absent") != "absent"
        and facts.mounts.get(path, "absent") not in UNSEEN
        and facts.mounts.get(path) == host[path]
    )
    return dataclasses.replace(facts, visible_host_paths=visible)


def _number(raw: str | None) -> int | None:
    if raw is None or raw == "max" or not raw.lstrip("-").isdigit():
        return None
    value = int(raw)
    return None if value < 0 or value >= UNLIMITED_MEMORY else value


def _memory(limits: dict[str, str]) -> int | None:
    return _number(limits.get("memory.max") or limits.get("memory.limit_in_bytes"))


def _cpus(limits: dict[str, str]) -> float | None:
    if "cpu.max" in limits:
        quota, _, period = limits["cpu.max"].partition(" ")
    else:
        quota, period = limits.get("cpu.cfs_quota_us", "-1"), limits.get("cpu.cfs_period_us", "")
    q, p = _number(quota), _number(period)
    return round(q / p, 2) if q and p else None
