"""`shopnet bench --ladder`: build every row, measure them in interleaved repeats, remove all.

Repeats are interleaved (every row once, then every row again) so slow drift of the
machine hits every row alike. Whatever an earlier, killed ladder left is removed first
(by tag); what this one builds is removed in a `finally`, and a lock keeps two ladders
from removing each other's rows.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from shopnet.bench.ladder import plumbing, teardown
from shopnet.bench.ladder.probes import Endpoint, Servers, ping_pong, throughput
from shopnet.bench.ladder.rows import DockerLab, Hop, Row, ladder_rows
from shopnet.bench.ladder.swarm import RowUnavailable
from shopnet.bench.noise import load_before
from shopnet.bench.results import machine
from shopnet.errors import PreflightError, ShopnetError
from shopnet.runtime.progress import Progress

LOCK = Path("/run/shopnet-ladder.lock")


@dataclass(frozen=True, slots=True)
class LadderOptions:
    repeats: int = 5
    ping_s: float = 3.0
    """sockperf ping-pong seconds per row and repeat (its first 0.4 s is warm-up)."""
    iperf_s: int = 2
    rows: tuple[str, ...] = ()
    """Only these rows (empty: all); the test runs a short setting of three."""
    quick: bool = False
    pin: str = "same"
    """Where the probes run: "same" (client and server on the last core: a hop's own cost,
    no wake-up across cores), "split" (client on the first, server on the last: adds the
    cross-core wake-up), "none" (wherever the scheduler puts them: noisy)."""

    @property
    def cpus(self) -> tuple[int | None, int | None]:
        """(client CPU, server CPU) for the chosen pinning."""
        last = (os.cpu_count() or 1) - 1
        return {"same": (last, last), "split": (0, last)}.get(self.pin, (None, None))

    @classmethod
    def short(cls, **overrides: Any) -> LadderOptions:
        """`--quick`: two repeats (the fewest with an interval), shorter probes, no swarm."""
        base: dict[str, Any] = {"repeats": 2, "ping_s": 1.5, "iperf_s": 1, "quick": True}
        base.update(overrides)
        return cls(**base)


@contextlib.contextmanager
def _exclusive() -> Iterator[None]:
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PreflightError("another `shopnet bench --ladder` is running") from None
        yield


def remove_leftovers() -> list[str]:
    """What a killed ladder left, removed by tag (`shopnet down`); nothing while a ladder
    is running (its rows are not leftovers), nothing without root (nothing to remove)."""
    if os.geteuid() != 0 or (not plumbing.ladder_namespaces() and not plumbing.docker_ready()):
        return []
    try:
        with _exclusive():
            return teardown.cleanup()
    except PreflightError:
        return []


def facts() -> dict[str, Any]:
    """What moves these figures besides the hops: kernel, CPU, mitigations, netfilter."""
    found: dict[str, Any] = dict(machine())
    vulns = Path("/sys/devices/system/cpu/vulnerabilities")
    found["mitigations"] = {
        entry.name: entry.read_text().strip() for entry in sorted(vulns.glob("*"))
    } if vulns.is_dir() else {}  # fmt: skip
    found["br_netfilter"] = plumbing.host_bridge_nf() or "not loaded"
    conntrack: dict[str, str] = {}
    for key in ("nf_conntrack_max", "nf_conntrack_count", "nf_conntrack_tcp_loose"):
        with contextlib.suppress(OSError):
            conntrack[key] = Path(f"/proc/sys/net/netfilter/{key}").read_text().strip()
    found["conntrack"] = conntrack
    with contextlib.suppress(OSError):
        found["cmdline_mitigations"] = [
            arg for arg in Path("/proc/cmdline").read_text().split() if "mitigation" in arg
        ]
    found["docker"] = plumbing.docker_ready()
    return found


class Ladder:
    def __init__(self, options: LadderOptions, *, output: Path, progress: Progress) -> None:
        self.options = options
        self.output = output
        self.progress = progress
        self.docker = DockerLab()
        self.data: dict[str, Any] = {"options": asdict(options), "rows": [], "samples": []}

    def chosen(self) -> list[Row]:
        rows = ladder_rows(self.docker)
        if self.options.rows:
            unknown = set(self.options.rows) - {r.name for r in rows}
            if unknown:
                raise PreflightError(f"--rows: no ladder row named {', '.join(sorted(unknown))}")
            rows = [r for r in rows if r.name in self.options.rows]
        return rows

    def run(self) -> dict[str, Any]:
        if os.geteuid() != 0:
            raise PreflightError("the ladder creates namespaces and bridges: run it as root")
        rows = self.chosen()
        with _exclusive():
            if removed := teardown.cleanup():
                self.progress.warn(
                    f"ladder: removed what an earlier run left: {', '.join(removed)}"
                )
            self.data["machine"] = facts()
            self.data["load_before"] = load_before()
            self.data["started"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            servers: dict[str, Servers] = {}
            try:
                hops = self._build(rows, servers)
                for repeat in range(1, self.options.repeats + 1):
                    for row in rows:
                        if row.name in hops:
                            self._measure(row, hops[row.name], servers, repeat)
            finally:
                for server in servers.values():
                    with contextlib.suppress(ShopnetError, OSError):
                        server.stop()
                with self.progress.step("ladder: removing everything tagged ladder"):
                    teardown.cleanup()
            self.data["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            self._save()
        return self.data

    def _build(self, rows: list[Row], servers: dict[str, Servers]) -> dict[str, Hop]:
        hops = {}
        docker_up = None
        for row in rows:
            record: dict[str, Any] = {"name": row.name, "base": row.base, "what": row.what}
            self.data["rows"].append(record)
            reason = row.skip_reason
            if reason is None and row.full_only and self.options.quick:
                reason = "the quick run skips what needs a second engine"
            if reason is None and row.docker:
                docker_up = plumbing.docker_ready() if docker_up is None else docker_up
                reason = None if docker_up else "dockerd is not running"
            if reason is not None or row.build is None:
                record["skipped"] = reason or "not built"
                continue
            try:
                with self.progress.step(f"ladder: building {row.name}"):
                    hop = row.build()
            except RowUnavailable as exc:
                record["skipped"] = str(exc)
                self.progress.warn(f"ladder: skipping {row.name}: {exc}")
                continue
            key = f"{hop.server.name} {hop.listen}"
            if key not in servers:
                servers[key] = Servers.start(hop.server, hop.listen, self.options.cpus[1])
            hops[row.name] = hop
        self._save()
        return hops

    def _measure(self, row: Row, hop: Hop, servers: dict[str, Servers], repeat: int) -> None:
        server = servers[f"{hop.server.name} {hop.listen}"]
        client_cpu = self.options.cpus[0]
        latency = ping_pong(
            hop.client, hop.connect, hop.sockperf_port, server.sockperf_pid,
            self.options.ping_s, hop.helpers, client_cpu,
        )  # fmt: skip
        gbps = throughput(hop.client, hop.connect, hop.iperf_port, self.options.iperf_s, client_cpu)
        sample = {"row": row.name, "repeat": repeat, **asdict(latency), "gbps": gbps,
                  "helpers": len(hop.helpers)}  # fmt: skip
        self.data["samples"].append(sample)
        self._save()
        self.progress.info(
            f"[repeat {repeat}/{self.options.repeats}] {row.name:<22} p50 {latency.p50_us:7.1f} µs "
            f"p99 {latency.p99_us:7.1f} µs  {latency.transactions_per_s:9,.0f} tx/s  "
            f"CPU {latency.cpu_us:6.1f} µs/tx  {gbps:6.2f} Gbit/s"
        )

    def _save(self) -> None:
        self.output.mkdir(parents=True, exist_ok=True)
        path = self.output / "ladder.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1))
        tmp.replace(path)


__all__ = ["Endpoint", "Ladder", "LadderOptions", "facts"]
