"""results.json: the machine, the versions, the options, and every run as it happened."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shopnet.bench.orders import StockCheck
from shopnet.bench.wrk import Latency, WrkResult

_KEYS = ("mode", "repeat", "path", "main", "workload", "connections", "rate")


@dataclass(frozen=True, slots=True)
class RunRecord:
    mode: str
    repeat: int
    path: str
    main: bool
    workload: str
    connections: int
    rate: float
    """0 for closed-loop runs; the requested rate for paced (open-loop) runs."""
    result: WrkResult
    cpu_us: dict[str, float] = field(default_factory=dict)
    """CPU microseconds per request by component (the profiled headline runs only)."""
    stock: StockCheck | None = None
    """The stock check of an orders-against-limited-stock run."""

    def to_json(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in _KEYS}
        data["result"] = self.result.to_json()
        if self.cpu_us:
            data["cpu_us_per_request"] = self.cpu_us
        if self.stock is not None:
            data["stock"] = self.stock.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        r = data["result"]

        def lat(d: dict[str, float]) -> Latency:
            return Latency(d["mean"], d["p50"], d["p90"], d["p99"], d["max"])

        result = WrkResult(
            requests=r["requests"],
            duration_s=r["duration_s"],
            latency=lat(r["latency_ms"]),
            errors=r["errors"],
            statuses=r.get("statuses", {}),
            cache=r.get("cache", {}),
            corrected=lat(r["corrected_latency_ms"]) if "corrected_latency_ms" in r else None,
            created=r.get("created"),
            conflicts=r.get("conflicts"),
        )
        return cls(
            **{k: data[k] for k in _KEYS},
            result=result,
            cpu_us=data.get("cpu_us_per_request", {}),
            stock=StockCheck.from_json(data["stock"]) if "stock" in data else None,
        )


@dataclass
class Results:
    directory: Path
    meta: dict[str, Any]
    runs: list[RunRecord] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return self.directory / "results.json"

    @classmethod
    def start(cls, directory: Path, options: object) -> Results:
        directory.mkdir(parents=True, exist_ok=True)
        opts = {}
        if dataclasses.is_dataclass(options) and not isinstance(options, type):
            opts = dataclasses.asdict(options)
        results = cls(
            directory,
            {
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "machine": machine(),
                "versions": versions(),
                "commit": _git_commit(),
                "options": opts,
            },
        )
        results.save()
        return results

    @classmethod
    def load(cls, path: Path) -> Results:
        data = json.loads(path.read_text())
        return cls(path.parent, data["meta"], [RunRecord.from_json(r) for r in data["runs"]])

    def add(self, record: RunRecord) -> None:
        self.runs.append(record)
        self.save()

    def last(
        self, mode: str, repeat: int, path: str, workload: str, connections: int
    ) -> WrkResult | None:
        for run in reversed(self.runs):
            if (run.mode, run.repeat, run.path, run.workload, run.connections, run.rate) == (
                mode, repeat, path, workload, connections, 0.0,
            ):  # fmt: skip
                return run.result
        return None

    def broken_stock(self) -> list[RunRecord]:
        """Limited-stock runs whose stock check failed (oversold, or units unaccounted for)."""
        return [r for r in self.runs if r.stock is not None and not r.stock.holds]

    def finish(self) -> None:
        self.meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.save()

    def save(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"meta": self.meta, "runs": [r.to_json() for r in self.runs]}, indent=1)
        )
        tmp.replace(self.path)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_kb = 0
    try:
        match = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
        memory_kb = int(match.group(1)) if match else 0
    except OSError:
        pass
    os_name = "unknown"
    try:
        match = re.search(r'PRETTY_NAME="([^"]+)"', Path("/etc/os-release").read_text())
        os_name = match.group(1) if match else os_name
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 2**20, 1),
        "kernel": platform.release(),
        "os": os_name,
        "hostname": platform.node(),
    }


def _first_line(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else None


def versions() -> dict[str, str | None]:
    import aiohttp

    found: dict[str, str | None] = {
        "python": platform.python_version(),
        "aiohttp": aiohttp.__version__,
    }
    for name, argv in {
        "wrk": ["wrk", "--version"],
        "nginx": ["nginx", "-v"],
        "redis": ["redis-server", "--version"],
        "docker": ["/usr/bin/docker", "--version"],
        "nft": ["nft", "--version"],
    }.items():
        found[name] = _first_line(argv)
    return found


def _git_commit() -> str | None:
    return _first_line(
        ["git", "-C", str(Path(__file__).resolve().parent), "rev-parse", "--short", "HEAD"]
    )
