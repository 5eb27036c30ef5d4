"""sockperf and iperf3 run inside the ladder's namespaces and containers, and what they cost.

A ping-pong keeps one 14-byte message in flight over TCP, so transactions/s is the
inverse of the round trip and the CPU it burns per transaction is the price of the
hops: the two probe processes' CPU (precise, from /proc/PID/schedstat) plus the softirq
time the machine spent meanwhile (packet work outside any process), plus docker-proxy's
when it is in the path. *kernel* is the part of it not in user space.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from shopnet.errors import DriverError
from shopnet.hostnet.tools import binary

SOCKPERF_PORT = 11111
IPERF_PORT = 5201
MESSAGE_BYTES = 14
_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def pinned(cpu: int | None) -> list[str]:
    """`taskset -c CPU` before a probe, or nothing. Where the scheduler puts client and server
    moves a ping-pong's round trip by 40 µs on a 2-core VM (same core: the wake-up is a
    context switch; two cores: an inter-processor interrupt and an idle exit), far more
    than a hop costs, so the ladder pins them (run.LadderOptions.pin)."""
    return [] if cpu is None else ["taskset", "-c", str(cpu)]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a probe runs: the command prefix that enters its network namespace."""

    name: str
    enter: tuple[str, ...]
    """("ip", "netns", "exec", NS), ("nsenter", "-t", PID, "-n"), or () for the host."""

    @classmethod
    def netns(cls, ns: str) -> Endpoint:
        return cls(ns, ("ip", "netns", "exec", ns))

    @classmethod
    def container(cls, name: str, pid: int) -> Endpoint:
        return cls(name, ("nsenter", "-t", str(pid), "-n"))

    @classmethod
    def host(cls) -> Endpoint:
        return cls("host", ())


@dataclass
class Servers:
    """sockperf and iperf3 servers listening in one endpoint until stopped."""

    endpoint: Endpoint
    listen: str
    processes: list[subprocess.Popen[bytes]]

    @classmethod
    def start(cls, endpoint: Endpoint, listen: str, cpu: int | None = None) -> Servers:
        commands = [
            ["sockperf", "server", "--tcp", "-i", listen, "-p", str(SOCKPERF_PORT)],
            ["iperf3", "-s", "-B", listen, "-p", str(IPERF_PORT)],
        ]
        processes = []
        for argv in commands:
            binary(argv[0], package=argv[0])
            processes.append(
                subprocess.Popen(
                    [*endpoint.enter, *pinned(cpu), *argv],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        servers = cls(endpoint, listen, processes)
        servers.wait_listening()
        return servers

    def wait_listening(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.processes):
                raise DriverError(f"ladder: a probe server in {self.endpoint.name} exited")
            out = subprocess.run(
                [*self.endpoint.enter, "ss", "-Htln"], capture_output=True, text=True, check=False
            ).stdout
            if f":{SOCKPERF_PORT} " in out and f":{IPERF_PORT} " in out:
                return
            time.sleep(0.05)
        raise DriverError(f"ladder: probe servers in {self.endpoint.name} did not listen")

    @property
    def sockperf_pid(self) -> int:
        return self.processes[0].pid

    def stop(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait(timeout=5)


@dataclass(frozen=True, slots=True)
class PingPong:
    p50_us: float
    p99_us: float
    avg_us: float
    transactions_per_s: float
    cpu_us: float
    """CPU µs per transaction: both probes, docker-proxy when in the path, softirq."""
    kernel_us: float
    """Of which in the kernel (system time and softirq)."""
    softirq_us: float = 0.0
    """Of which softirq time the machine accounted as such (not charged to a process): on
    a veth the receiver's stack often runs in the sender's context and is charged to it."""


def _cpu(pid: int) -> tuple[float, float]:
    """(total on-CPU seconds from schedstat, system share from stat ticks) of one process."""
    try:
        total = int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError, ValueError):
        return 0.0, 0.0
    user, system = int(fields[11]), int(fields[12])
    return total, (system / (user + system)) if user + system else 1.0


def _softirq_s() -> float:
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[7]) * _TICK_S


_PERCENTILE = re.compile(r"percentile (\d+\.\d+) =\s+([\d.]+)")
_VALID = re.compile(
    r"\[Valid Duration\] RunTime=([\d.]+) sec; SentMessages=(\d+); ReceivedMessages=(\d+)"
)
_AVG = re.compile(r"avg-rtt=([\d.]+)")
_TOTAL = re.compile(r"\[Total Run\] RunTime=[\d.]+ sec;.*?ReceivedMessages=(\d+)")


def parse_sockperf(text: str) -> tuple[float, float, float, float, int]:
    """(p50 µs, p99 µs, average µs, transactions/s, all transactions including the warm-up)
    from `sockperf ping-pong --full-rtt`."""
    clean = re.sub(r"\x1b\[[0-9;]*m", "", text)
    percentiles = {float(k): float(v) for k, v in _PERCENTILE.findall(clean)}
    valid, avg = _VALID.search(clean), _AVG.search(clean)
    if not valid or not avg or 50.0 not in percentiles or 99.0 not in percentiles:
        raise DriverError(f"ladder: cannot read sockperf's output: {clean[-300:]}")
    seconds, received = float(valid.group(1)), int(valid.group(3))
    total = _TOTAL.search(clean)
    everything = int(total.group(1)) if total else received
    return percentiles[50.0], percentiles[99.0], float(avg.group(1)), received / seconds, everything


def ping_pong(
    client: Endpoint,
    connect: str,
    port: int,
    server_pid: int,
    seconds: float,
    extra_pids: tuple[int, ...] = (),
    cpu: int | None = None,
) -> PingPong:
    argv = [*client.enter, *pinned(cpu), "sockperf", "ping-pong", "--tcp", "-i", connect, "-p", str(port),
            "-t", f"{seconds:g}", "-m", str(MESSAGE_BYTES), "--full-rtt"]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    watched = (process.pid, server_pid, *extra_pids)
    before = [_cpu(pid) for pid in watched]
    soft_before = _softirq_s()
    last = before
    try:
        # Sample the client's CPU just before it exits (its /proc entry goes with it).
        while process.poll() is None:
            last = [_cpu(pid) for pid in watched]
            time.sleep(0.02)
        output = process.communicate(timeout=seconds + 30)[0].decode(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
    soft = _softirq_s() - soft_before
    after = [_cpu(pid) for pid in watched[1:]]
    after = [last[0], *after]
    if process.returncode != 0:
        raise DriverError(f"ladder: sockperf to {connect}:{port} failed: {output[-300:]}")
    p50, p99, avg, tps, transactions = parse_sockperf(output)
    total = sum(max(0.0, a[0] - b[0]) for a, b in zip(after, before, strict=True))
    kernel = sum(max(0.0, a[0] - b[0]) * a[1] for a, b in zip(after, before, strict=True))
    transactions = max(1, transactions)  # the whole run's, the span the CPU was counted on
    return PingPong(
        p50_us=p50,
        p99_us=p99,
        avg_us=avg,
        transactions_per_s=round(tps, 1),
        cpu_us=round((total + soft) * 1e6 / transactions, 2),
        kernel_us=round((kernel + soft) * 1e6 / transactions, 2),
        softirq_us=round(soft * 1e6 / transactions, 2),
    )


def throughput(
    client: Endpoint, connect: str, port: int, seconds: int, cpu: int | None = None
) -> float:
    """Gbit/s received over one TCP stream (iperf3 -J)."""
    argv = [
        *client.enter,
        *pinned(cpu),
        "iperf3",
        "-c",
        connect,
        "-p",
        str(port),
        "-t",
        str(seconds),
        "-J",
    ]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)
    try:
        data = json.loads(out.stdout)
        return round(float(data["end"]["sum_received"]["bits_per_second"]) / 1e9, 3)
    except (ValueError, KeyError) as exc:
        raise DriverError(
            f"ladder: iperf3 to {connect}:{port} failed: {(out.stdout + out.stderr)[-300:]}"
        ) from exc
