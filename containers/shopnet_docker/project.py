"""What docker mode's phase modules (startup, teardown, tiers, backup) work on: one stack of
ours on one engine and where its files are — a small value the driver hands them, not itself."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shopnet.runtime.progress import Progress
from shopnet.runtime.state import Layout
from shopnet.topology.model import Topology, Wiring
from shopnet_docker.engine import Docker
from shopnet_docker.stack import Container, Stack


@dataclass(frozen=True, slots=True)
class Project:
    name: str
    """The compose project (our topology's prefix): every object of ours carries it."""
    topology: Topology
    layout: Layout
    docker: Docker
    stack: Stack
    progress: Progress
    wiring: Callable[[], Wiring | None]
    """The running (or starting) stack's wiring, looked up when asked (`down` never does)."""

    def tail(self, c: Container, lines: int = 15) -> str:
        """A container's last log lines, indented (for errors)."""
        out = self.docker.run("logs", "--tail", str(lines), c.id, what="docker logs", check=False)
        text = (out.stdout + out.stderr).strip().splitlines()
        return "\n".join(f"    {line}" for line in text[-lines:]) or "    (no output)"


@dataclass(frozen=True, slots=True)
class ComposeFile:
    """The stack's compose file, its log, and the environment compose runs with."""

    path: Path
    log: Path
    environment: Callable[[bool], dict[str, str]]
    """compose's environment; True: make the secret files first (for `up`)."""
    write: Callable[[], None]
    """Render the file (from the topology and the stack's variant)."""

    def run(
        self, project: Project, *args: str, what: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """`docker compose -f FILE -p PROJECT ARGS` (the file written first if it is missing)."""
        if not self.path.exists():
            self.write()
        return project.docker.compose(
            self.path, project.name, *args, what=what, env=self.environment(False), check=check
        )
