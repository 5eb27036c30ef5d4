"""The audit as a terminal table, and as Markdown with modes side by side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shopnet.audit.collect import InstanceAudit

HEADERS = (
    "instance",
    "uid:gid",
    "CapEff",
    "CapBnd",
    "NNP",
    "seccomp",
    "shares with host",
    "root fs",
    "host paths",
    "host procs",
    "memory",
    "CPU",
    "pids",
    "exposure",
)
SECCOMP = {0: "off", 1: "strict", 2: "filter"}


def row(audit: InstanceAudit | Mapping[str, Any]) -> tuple[str, ...]:
    """One table row, from an audit or its `as_dict()` form (as a bench run stores it)."""
    a = audit.as_dict() if isinstance(audit, InstanceAudit) else audit
    memory, cpus, pids = a["memory_limit_bytes"], a["cpu_limit"], a["pids_limit"]
    return (
        str(a["instance"]),
        f"{a['uid']}:{a['gid']}",
        f"{int(str(a['cap_eff']), 16):x}",
        f"{int(str(a['cap_bnd']), 16):x}",
        "yes" if a["no_new_privs"] else "no",
        SECCOMP.get(a["seccomp"], str(a["seccomp"])),
        ",".join(a["shared_namespaces"]) or "none",
        "rw" if a["root_fs_writable"] else "ro",
        _host_paths(a.get("visible_host_paths")),
        "visible" if a["host_processes_visible"] else f"hidden ({a['visible_processes']} seen)",
        f"{memory // 2**20} MiB" if memory else "-",
        f"{cpus:g}" if cpus else "-",
        str(pids) if pids else "-",
        f"{a['exposure']:.1f} {a['exposure_label']}",
    )


def _host_paths(visible: Any) -> str:
    """Whether /run, /var/run, /home and /root are masked; "?" for a run stored before."""
    if visible is None:
        return "?"
    return ",".join(visible) + " visible" if visible else "masked"


def format_table(audits: Sequence[InstanceAudit]) -> str:
    rows = [HEADERS, *(row(a) for a in audits)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    return "\n".join(lines)


def markdown(audits: Sequence[InstanceAudit | Mapping[str, Any]]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(row(a)) + " |" for a in audits]
    return "\n".join(lines)


def side_by_side(by_mode: Mapping[str, Sequence[InstanceAudit | Mapping[str, Any]]]) -> str:
    """An "Isolation, measured" section: one table per mode plus a per-instance score line."""
    out = ["## Isolation, measured", ""]
    out.append(
        "`shopnet audit` run inside every instance of each mode (see docs/security.md "
        "for how the exposure score is weighted: 0 safe … 10 exposed)."
    )
    modes = list(by_mode)
    rows = {
        m: [a.as_dict() if isinstance(a, InstanceAudit) else a for a in v]
        for m, v in by_mode.items()
    }
    names = sorted({str(a["instance"]) for audits in rows.values() for a in audits}, key=_order)
    out += ["", "| instance | " + " | ".join(f"{m} exposure" for m in modes) + " |"]
    out.append("|---|" + "---:|" * len(modes))
    for name in names:
        cells = []
        for mode in modes:
            match = [a for a in rows[mode] if a["instance"] == name]
            cells.append(f"{match[0]['exposure']:.1f}" if match else "–")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    for mode, audits in rows.items():
        out += ["", f"### {mode}", "", markdown(audits)]
    return "\n".join(out) + "\n"


def _order(name: str) -> tuple[int, str]:
    services = ("gateway", "registry", "product", "order", "postgres", "redis")
    service = name.rsplit("-", 1)[0]
    return (services.index(service) if service in services else len(services), name)
