"""Host sysctls the testbed needs, recorded before we change them and restored after.

`ip_forward` (the host routes between tiers) and `bridge-nf-call-iptables`
(same-bridge traffic passes the IP firewall hooks, see firewall.py) are global.
Before changing one we write its previous value to a record under /run (sysctls
and /run both reset at boot, so a record never outlives the values it
describes). Several testbeds (prefixes) may be up at once: the record lists its
owners and the values are restored when the last owner is torn down, and only
if nobody changed them after us. Per-interface sysctls (on our bridges) vanish
with the bridge and need no record.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from shopnet.errors import DriverError

RECORD = Path("/run/shopnet/netns-sysctl.json")

IP_FORWARD = "net.ipv4.ip_forward"
BRIDGE_NF_IPTABLES = "net.bridge.bridge-nf-call-iptables"


def _path(key: str) -> Path:
    return Path("/proc/sys", *key.split("."))


def read(key: str) -> str | None:
    try:
        return _path(key).read_text().strip()
    except OSError:
        return None


def write(key: str, value: str) -> None:
    try:
        _path(key).write_text(value)
    except OSError as exc:
        raise DriverError(f"cannot set {key}={value}: {exc.strerror}") from None


@contextlib.contextmanager
def _locked(record: Path) -> Iterator[dict[str, Any]]:
    """The record's content, under an exclusive lock; saved (or removed) on exit.

    The lock is on the record's directory, so no lock file is left behind.
    """
    record.parent.mkdir(parents=True, exist_ok=True)
    directory = os.open(record.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(directory, fcntl.LOCK_EX)
        try:
            data = json.loads(record.read_text())
        except (OSError, ValueError):
            data = {}
        data.setdefault("owners", [])
        data.setdefault("values", {})
        yield data
        if data["owners"] or data["values"]:
            tmp = record.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
            os.replace(tmp, record)  # atomic: a crash leaves the old or the new record
        else:
            record.unlink(missing_ok=True)
    finally:
        os.close(directory)  # releases the lock


def ensure(owner: str, values: dict[str, str], *, record: Path = RECORD) -> dict[str, str]:
    """Set `values`, recording each previous value first; returns {key: previous} changed."""
    changed = {}
    with _locked(record) as data:
        if owner not in data["owners"]:
            data["owners"].append(owner)
        for key, value in values.items():
            current = read(key)
            if current is None:
                raise DriverError(f"sysctl {key} does not exist on this kernel")
            data["values"].setdefault(key, {"previous": current, "ours": value})
        # Saved before anything changes: a crash right after still lets teardown restore.
    for key, value in values.items():
        current = read(key) or ""
        if current != value:
            changed[key] = current
            write(key, value)
    return changed


def owners(*, record: Path = RECORD) -> list[str]:
    try:
        return list(json.loads(record.read_text()).get("owners", []))
    except (OSError, ValueError):
        return []


def restore(owner: str, *, record: Path = RECORD) -> tuple[list[str], list[str]]:
    """Give up `owner`'s claim; the last owner restores. Returns (restored, problems)."""
    restored: list[str] = []
    problems: list[str] = []
    if not record.exists():
        return restored, problems
    with _locked(record) as data:
        if owner in data["owners"]:
            data["owners"].remove(owner)
        if data["owners"]:
            return restored, problems
        for key, entry in sorted(data["values"].items()):
            current = read(key)
            if current is None or current == entry["previous"]:
                continue
            if current != entry["ours"]:
                problems.append(
                    f"{key} is {current}, changed by someone else since we set it; left alone"
                )
                continue
            try:
                write(key, entry["previous"])
            except DriverError as exc:
                problems.append(str(exc))
                continue
            restored.append(f"{key}={entry['previous']}")
        data["values"] = {}
    return restored, problems
