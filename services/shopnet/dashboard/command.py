"""`shopnet dashboard`: check the port, say where to look, serve until interrupted."""

from __future__ import annotations

from pathlib import Path

from shopnet.errors import ConfigError
from shopnet.runtime import ports
from shopnet.runtime.base import Driver
from shopnet.runtime.progress import Progress
from shopnet.topology.model import Topology

DEFAULT_PORT = 8765


def dashboard(
    *,
    driver: Driver,
    topology: Topology,
    port: int,
    bench_results: Path,
    chaos_results: Path,
    progress: Progress,
) -> int:
    from shopnet.dashboard.guard import new_token
    from shopnet.dashboard.panels import ChartDirs
    from shopnet.dashboard.server import DashboardConfig, run

    if port == topology.published_port:
        raise ConfigError(f"port {port} is the stack's published port; pick another with --port")
    ports.require_free(port, what="for the dashboard")
    token = new_token()
    cfg = DashboardConfig(driver, topology, ChartDirs(bench_results, chaos_results), token=token)
    # The URL is the key (its token is required on every request): printed even with -q.
    progress.always(
        f"dashboard of the {driver.mode} stack on http://127.0.0.1:{port}/?token={token}"
        " (only this URL opens it; Ctrl-C stops it)"
    )
    run(cfg, port=port)
    return 0
