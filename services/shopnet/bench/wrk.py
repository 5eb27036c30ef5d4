"""Running wrk with our workload script, and reading what it reports.

wrk prints a human summary, then our script's `done()` prints one line
`SHOPNET_WRK_JSON {...}` with exact counters and latency percentiles; parsing
that line (not the human text) keeps the figures exact and the parser small.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from shopnet.errors import DriverError, PreflightError

MARKER = "SHOPNET_WRK_JSON "
WORKLOADS = ("product_hit", "product_miss", "product_list", "order_create", "mix")


@dataclass(frozen=True, slots=True)
class Latency:
    """Milliseconds."""

    mean: float
    p50: float
    p90: float
    p99: float
    max: float

    @classmethod
    def from_us(cls, data: dict[str, float]) -> Latency:
        return cls(*(round(float(data[k]) / 1000, 3) for k in ("mean", "p50", "p90", "p99", "max")))


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    duration_s: float
    latency: Latency
    """Closed-loop latency as wrk measures it (from send to response)."""
    errors: dict[str, int]
    """Socket errors (connect/read/write/timeout) and `status`: responses ≥ 400."""
    statuses: dict[str, int] = field(default_factory=dict)
    """Status counts, when the workload records responses."""
    cache: dict[str, int] = field(default_factory=dict)
    """X-Cache HIT/MISS counts, when recorded."""
    corrected: Latency | None = None
    """Open-loop latency measured from each request's scheduled time (paced runs)."""
    created: int | None = None
    """Orders placed (201), when the script reports them."""
    conflicts: int | None = None
    """Orders refused for want of stock (409), when the script reports them."""

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def failed(self) -> int:
        """Every request that did not get a 2xx/3xx answer."""
        return sum(self.errors.values())

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "requests": self.requests,
            "duration_s": self.duration_s,
            "rps": round(self.rps, 1),
            "latency_ms": _latency_dict(self.latency),
            "errors": self.errors,
            "failed": self.failed,
        }
        if self.statuses:
            data["statuses"] = self.statuses
        if self.cache:
            data["cache"] = self.cache
        if self.corrected:
            data["corrected_latency_ms"] = _latency_dict(self.corrected)
        if self.created is not None:
            data["created"] = self.created
        if self.conflicts is not None:
            data["conflicts"] = self.conflicts
        return data


def _latency_dict(lat: Latency) -> dict[str, float]:
    return {"mean": lat.mean, "p50": lat.p50, "p90": lat.p90, "p99": lat.p99, "max": lat.max}


def parse(output: str) -> WrkResult:
    """The result from wrk's stdout; DriverError when our line is missing."""
    for line in output.splitlines():
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER) :])
            break
    else:
        raise DriverError(f"wrk printed no result line; output was:\n{output.strip()[-500:]}")
    cache = {k: v for k, v in data.get("x_cache", {}).items() if v}
    return WrkResult(
        requests=int(data["requests"]),
        duration_s=data["duration_us"] / 1e6,
        latency=Latency.from_us(data["latency_us"]),
        errors={k: int(v) for k, v in data["errors"].items()},
        statuses={str(k): int(v) for k, v in data.get("statuses", {}).items()},
        cache=cache,
        corrected=Latency.from_us(data["corrected_latency_us"])
        if "corrected_latency_us" in data
        else None,
        created=int(data["created"]) if "created" in data else None,
        conflicts=int(data["conflicts"]) if "conflicts" in data else None,
    )


def script_path() -> Path:
    return Path(str(resources.files("shopnet.bench").joinpath("workloads.lua")))


@dataclass(frozen=True, slots=True)
class WrkRun:
    """One wrk invocation."""

    url: str
    """Base URL, e.g. http://127.0.0.1:8080."""
    workload: str
    prefix: str = "/api"
    """"/api" through a gateway; "" straight at a product instance."""
    connections: int = 64
    threads: int = 1
    duration_s: float = 5.0
    rate: float = 0.0
    """Total requests/s for an open-loop run; 0 for closed loop."""
    id_range: tuple[int, int] = (1, 1000)
    run_id: str = "bench"
    token_file: str = ""
    """A file with the admin token every request carries (the gateway does not rate-limit
    admins); passed in the environment as a path, never the token in argv."""

    @property
    def thread_count(self) -> int:
        """wrk's threads: no more than connections."""
        return max(1, min(self.threads, self.connections))

    def argv(self) -> list[str]:
        wrk = shutil.which("wrk")
        if wrk is None:
            raise PreflightError("wrk not found: install it with `apt-get install wrk`")
        threads = self.thread_count
        per_thread_rate = self.rate / threads if self.rate else 0
        return [
            wrk,
            f"-t{threads}",
            f"-c{self.connections}",
            f"-d{self.duration_s:g}s",
            "--timeout", "5s",
            "-s", str(script_path()),
            self.url,
            "--",
            self.workload,
            self.prefix or "-",
            str(self.id_range[0]),
            str(self.id_range[1]),
            f"{per_thread_rate:.3f}",
            self.run_id,
        ]  # fmt: skip

    def run(self) -> WrkResult:
        env = {**os.environ, "SHOPNET_WRK_TOKEN_FILE": self.token_file}
        proc = subprocess.run(
            self.argv(),
            env=env,
            capture_output=True,
            text=True,
            timeout=self.duration_s + 60,
            check=False,
        )
        if proc.returncode != 0:
            raise DriverError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
        return parse(proc.stdout)
