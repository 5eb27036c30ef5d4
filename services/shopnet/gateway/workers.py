"""Several gateway processes on one port: a supervisor and its workers.

One Python process is bound to one core; the gateway is CPU-bound, so
`SHOPNET_GATEWAY_WORKERS=N` runs N worker processes, each with its own listening
socket on the same port (SO_REUSEPORT: the kernel spreads new connections over
them). Each worker is a complete gateway (its own discovery and pools).

- Workers are fresh interpreters (`python -m shopnet.gateway.worker`), configured
  through the same environment variables as any service, so they need nothing
  pickled and import prometheus_client with multiprocess mode already on.
- Metrics: every worker writes its samples to files in a directory made for this
  run (prometheus_client multiprocess mode); whichever worker answers /metrics sums
  them all (shopnet.common.metrics). The directory is removed when the run ends (or,
  after a SIGKILL, by the next supervisor: it carries the pid that made it).
- Workers die with the supervisor (PR_SET_PDEATHSIG → SIGTERM, so they still drain),
  and only worker 0 registers the gateway in the registry.
- SIGTERM/SIGINT to the supervisor: forwarded to every worker, which deregisters,
  drains and exits; stragglers are killed after the drain time.
- A worker that exits on its own stops the whole gateway with status 1: the
  orchestrator restarts it, rather than a half-sized gateway running on.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from shopnet.gateway.config import GatewayConfig

log = logging.getLogger("shopnet.gateway.workers")

PARENT_ENV = "SHOPNET_GATEWAY_SUPERVISOR_PID"
INDEX_ENV = "SHOPNET_GATEWAY_WORKER_INDEX"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_METRICS_DIR_PREFIX = "shopnet-gateway-metrics-"
SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGCHLD}


def config_environment(cfg: GatewayConfig) -> dict[str, str]:
    """The environment variables that make `GatewayConfig.from_env()` rebuild `cfg`."""
    env = {}
    for field in dataclasses.fields(cfg):
        name = field.metadata.get("env")
        if name:
            env[name] = str(getattr(cfg, field.name))
    return env


def supervise(cfg: GatewayConfig) -> int:
    """Run `cfg.workers` workers until SIGTERM/SIGINT; returns the exit status."""
    _check_port_free(cfg.bind, cfg.port)
    if cfg.admin_port:
        _check_port_free(cfg.admin_bind, cfg.admin_port)
    _remove_stale_metrics_dirs()
    metrics_dir = tempfile.mkdtemp(prefix=f"{_METRICS_DIR_PREFIX}{os.getpid()}-")
    base_env = {
        **os.environ,
        **config_environment(cfg),
        MULTIPROC_ENV: metrics_dir,
        PARENT_ENV: str(os.getpid()),
    }
    # Signals are taken synchronously (sigtimedwait), so no handler runs between a
    # fork and an exec; workers unblock them first thing.
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    workers: dict[int, subprocess.Popen[bytes]] = {}
    status = 0
    try:
        for index in range(cfg.workers):
            env = {**base_env, INDEX_ENV: str(index)}
            if index:
                env["SHOPNET_REGISTER"] = "false"  # one registration per gateway
            workers[index] = subprocess.Popen(
                [sys.executable, "-m", "shopnet.gateway.worker"], env=env, cwd="/"
            )
        log.info(
            "started %d workers",
            cfg.workers,
            extra={"pids": [p.pid for p in workers.values()], "port": cfg.port},
        )
        status = _wait(cfg, workers, metrics_dir)
    finally:
        for proc in workers.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return status


def _wait(cfg: GatewayConfig, workers: dict[int, subprocess.Popen[bytes]], metrics_dir: str) -> int:
    from prometheus_client import multiprocess

    status = 0
    deadline: float | None = None  # set once stopping: when stragglers get SIGKILL
    while any(p.returncode is None for p in workers.values()):
        timeout = 1.0 if deadline is None else max(0.0, deadline - time.monotonic())
        info = signal.sigtimedwait(SIGNALS, timeout)
        for index, proc in workers.items():
            if proc.returncode is None and proc.poll() is not None:
                multiprocess.mark_process_dead(proc.pid, metrics_dir)  # drop its live gauges
                if deadline is None:
                    log.error(
                        "worker %d (pid %d) exited with %s; stopping the gateway",
                        index,
                        proc.pid,
                        proc.returncode,
                    )
                    status = 1
                elif proc.returncode != 0:
                    log.error("worker %d exited with %s while stopping", index, proc.returncode)
                    status = 1
        stopping = info is not None and info.si_signo in (signal.SIGTERM, signal.SIGINT)
        if deadline is None and (stopping or status):
            if stopping:
                log.info("stopping: workers drain in-flight requests")
            for proc in workers.values():
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
            grace = cfg.deregister_grace_seconds + cfg.drain_seconds + 5.0
            deadline = time.monotonic() + grace
        elif deadline is not None and time.monotonic() >= deadline:
            for proc in workers.values():
                if proc.returncode is None:
                    log.warning("worker pid %d did not stop in time; killing it", proc.pid)
                    proc.kill()
                    proc.wait()
                    status = 1
    return status


def _remove_stale_metrics_dirs() -> None:
    """Metrics directories of supervisors that were killed before they could clean up."""
    for path in Path(tempfile.gettempdir()).glob(f"{_METRICS_DIR_PREFIX}*-*"):
        pid = path.name.removeprefix(_METRICS_DIR_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(path, ignore_errors=True)


def _check_port_free(bind: str, port: int) -> None:
    """Fail clearly when the port is taken: with SO_REUSEPORT a stale gateway of ours
    could otherwise silently share it."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((bind, port))
    except OSError as exc:
        from shopnet.errors import PreflightError

        reason = "in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise PreflightError(f"cannot listen on {bind}:{port}: {reason}") from None
    finally:
        probe.close()
