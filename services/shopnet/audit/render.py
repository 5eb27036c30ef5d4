"""The audit as a terminal table, and as Markdown with modes side by side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shopnet.audit.collect import InstanceAudit
from shopnet.audit.score import label

HEADERS = (
    "instance",
    "uid:gid",
    "CapEff",
    "CapBnd",
    "NNP",
    "seccomp",
    "shares with host",
    "root fs",
    "host procs",
    "memory",
    "CPU",
    "pids",
    "exposure",
)
SECCOMP = {0: "off", 1: "strict", 2: "filter"}


def row(audit: InstanceAudit) -> tuple[str, ...]:
    f = audit.facts
    shared = [ns for ns, same in audit.shared.items() if same]
    return (
        audit.instance,
        f"{f.uid}:{f.gid}",
        f"{f.cap_eff:x}",
        f"{f.cap_bnd:x}",
        "yes" if f.no_new_privs else "no",
        SECCOMP.get(f.seccomp, str(f.seccomp)),
        ",".join(shared) or "none",
        "rw" if f.root_writable else "ro",
        "visible" if audit.shared.get("pid", True) else f"hidden ({f.visible_processes} seen)",
        f"{f.memory_limit // 2**20} MiB" if f.memory_limit else "-",
        f"{f.cpu_limit:g}" if f.cpu_limit else "-",
        str(f.pids_limit) if f.pids_limit else "-",
        f"{audit.score:.1f} {label(audit.score)}",
    )


def format_table(audits: Sequence[InstanceAudit]) -> str:
    rows = [HEADERS, *(row(a) for a in audits)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    return "\n".join(lines)


def markdown(audits: Sequence[InstanceAudit]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(row(a)) + " |" for a in audits]
    return "\n".join(lines)


def side_by_side(by_mode: Mapping[str, Sequence[InstanceAudit]]) -> str:
    """An "Isolation, measured" section: one table per mode plus a per-instance score line."""
    out = ["## Isolation, measured", ""]
    out.append(
        "`shopnet audit` run inside every instance of each mode (see README, *shopnet audit*, "
        "for how the exposure score is weighted: 0 safe … 10 exposed)."
    )
    modes = list(by_mode)
    names = sorted({a.instance for audits in by_mode.values() for a in audits}, key=_order)
    out += ["", "| instance | " + " | ".join(f"{m} exposure" for m in modes) + " |"]
    out.append("|---|" + "---:|" * len(modes))
    for name in names:
        cells = []
        for mode in modes:
            match = [a for a in by_mode[mode] if a.instance == name]
            cells.append(f"{match[0].score:.1f}" if match else "–")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    for mode, audits in by_mode.items():
        out += ["", f"### {mode}", "", markdown(audits)]
    return "\n".join(out) + "\n"


def _order(name: str) -> tuple[int, str]:
    services = ("gateway", "registry", "product", "order", "postgres", "redis")
    service = name.rsplit("-", 1)[0]
    return (services.index(service) if service in services else len(services), name)
