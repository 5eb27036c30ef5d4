"""`down` of a docker stack: compose first, then whatever still carries our labels.

Compose stops services in dependency order, each with its grace period; the
sweep after it removes what compose did not (a crash between steps, a changed
compose file, no compose installed). Only objects with both our labels are
touched (see stack.py). With `volumes`, our project's volumes and the data
directory go too, whether or not a stack was running.
"""

from __future__ import annotations

import shutil
import time
from typing import TYPE_CHECKING

from shopnet.errors import PreflightError
from shopnet.runtime.base import DownResult
from shopnet_docker import tiers
from shopnet_docker.engine import last_lines
from shopnet_docker.stoptimes import stop_times

if TYPE_CHECKING:
    from shopnet_docker.project import ComposeFile, Project


def down(project: Project, compose: ComposeFile, *, volumes: bool) -> DownResult:
    layout, stack, docker = project.layout, project.stack, project.docker
    try:
        docker.ping(timeout=10.0)
    except PreflightError as exc:
        if volumes and layout.data.exists():
            # The password stays with the volume we cannot reach now.
            return DownResult(
                removed=(), problems=(f"{exc}; the database volume and {layout.data} are kept",)
            )
        if not layout.state_file.exists():
            return DownResult(removed=())
        return DownResult(
            removed=(),
            problems=(f"{exc}; {layout.state_file} is kept for a later `shopnet down`",),
        )
    before_containers = {c.id: c.name for c in stack.containers()}
    before_networks = {n.id: n.name for n in stack.networks()}
    before_volumes = stack.volumes() if volumes else []
    problems: list[str] = []
    compose_error = None

    args = ["down", "--remove-orphans", *(["--volumes"] if volumes else [])]
    since = time.time()
    if before_containers or before_networks or before_volumes:
        try:
            out = compose.run(project, *args, what="compose down", check=False)
            if out.returncode != 0:
                compose_error = f"compose down: {last_lines(out.stderr or out.stdout)}"
        except PreflightError as exc:  # no compose here: the sweep below still works
            compose_error = str(exc)
    for container in stack.containers():
        out = docker.run("rm", "-f", "-v", container.id, what="rm", check=False)
        if out.returncode != 0:
            problems.append(f"container {container.name}: {last_lines(out.stderr)}")
    for network in stack.networks():
        out = docker.run("network", "rm", network.id, what="network rm", check=False)
        if out.returncode != 0:
            problems.append(f"network {network.name}: {last_lines(out.stderr)}")
    if volumes:
        for volume in stack.volumes():
            out = docker.run("volume", "rm", volume, what="volume rm", check=False)
            if out.returncode != 0:
                problems.append(f"volume {volume}: {last_lines(out.stderr)}")

    stopped = stop_times(docker, list(before_containers), since=since, until=time.time())
    problems += [f"{s.name} ignored its stop signal and was killed" for s in stopped if s.killed]
    took = {s.name: f", stopped in {s.seconds:.1f} s (exit {s.exit_code})" for s in stopped}
    left_containers = {c.id for c in stack.containers()}
    left_networks = {n.id for n in stack.networks()}
    left_volumes = set(stack.volumes()) if volumes else set()
    removed = [
        f"container {n}{took.get(n, '')}"
        for i, n in before_containers.items()
        if i not in left_containers
    ]
    removed += [f"network {n}" for i, n in before_networks.items() if i not in left_networks]
    removed += [f"volume {v}" for v in before_volumes if v not in left_volumes]
    if compose_error and (left_containers or left_networks or left_volumes):
        problems.insert(0, compose_error)
    removed += tiers.remove_loss_tables(project)
    if not (left_containers or left_networks or left_volumes):
        layout.state_file.unlink(missing_ok=True)
        compose.path.unlink(missing_ok=True)
        if volumes:
            removed += _remove_data(project)
    return DownResult(removed=tuple(removed), problems=tuple(problems))


def _remove_data(project: Project) -> tuple[str, ...]:
    """The data directory (the database password goes with its volume)."""
    data = project.layout.data
    if not data.exists():
        return ()
    shutil.rmtree(data)
    return (f"data in {data}",)
