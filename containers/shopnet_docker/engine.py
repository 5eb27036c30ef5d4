"""The docker and compose command-line clients, with errors a user can act on.

We drive Docker through its CLI rather than an SDK: no new dependency, and every
command we run is one a user can copy and run by hand. Debian's client
(/usr/bin/docker) is preferred: it has BuildKit built in, while a newer client
earlier on PATH may lack the buildx plugin. Compose is `docker compose` (v2) when
the client has it, else `docker-compose` (1.29); the compose file works with both.
$SHOPNET_DOCKER and $SHOPNET_COMPOSE override the choice.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shopnet.errors import DriverError, PreflightError

DEBIAN_CLIENT = "/usr/bin/docker"
DEFAULT_HOST = "unix:///var/run/docker.sock"

_NOT_RUNNING = (
    "cannot connect to the docker daemon",
    "is the docker daemon running",
    "connection refused",
    "no such file or directory",
    "error during connect",
)


def last_lines(text: str, lines: int = 1) -> str:
    """The last `lines` non-empty lines of a command's output, on one line."""
    kept = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " / ".join(kept[-lines:]) if kept else "(no output)"


class Docker:
    """One docker client (and the compose that goes with it)."""

    def __init__(self, binary: str | None = None) -> None:
        self.binary = binary or _find_client()
        self._compose: list[str] | None = None

    @property
    def host(self) -> str:
        return os.environ.get("DOCKER_HOST") or DEFAULT_HOST

    # -- running commands -----------------------------------------------------

    def run(
        self,
        *args: str,
        what: str,
        timeout: float = 60.0,
        check: bool = True,
        stdin: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """`docker ARGS`; with `check`, a failure is a one-line DriverError naming `what`."""
        return self._run([self.binary, *args], what=what, timeout=timeout, check=check,
                         stdin=stdin, env=env)  # fmt: skip

    def compose(
        self,
        file: Path,
        project: str,
        *args: str,
        what: str,
        env: Mapping[str, str] | None = None,
        timeout: float = 300.0,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        argv = [*self.compose_command(), "-f", str(file), "-p", project, *args]
        return self._run(argv, what=what, timeout=timeout, check=check, env=env)

    def compose_argv(self, file: Path, project: str, *args: str) -> list[str]:
        return [*self.compose_command(), "-f", str(file), "-p", project, *args]

    def json(self, *args: str, what: str, timeout: float = 30.0) -> Any:
        """Output of a command that prints JSON (`inspect`), parsed."""
        out = self.run(*args, what=what, timeout=timeout).stdout
        try:
            return json.loads(out or "null")
        except ValueError:
            raise DriverError(f"{what}: unexpected output from docker: {out[:200]!r}") from None

    def lines(self, *args: str, what: str, timeout: float = 30.0) -> list[str]:
        out = self.run(*args, what=what, timeout=timeout).stdout
        return [line for line in out.splitlines() if line.strip()]

    def _run(
        self,
        argv: Sequence[str],
        *,
        what: str,
        timeout: float,
        check: bool,
        stdin: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        try:
            out = subprocess.run(
                list(argv),
                input=stdin,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=dict(env) if env is not None else None,
                check=False,
            )
        except FileNotFoundError:
            raise PreflightError(_missing(argv[0])) from None
        except subprocess.TimeoutExpired:
            raise DriverError(
                f"{what}: `{shlex.join(argv[:4])} …` took over {timeout:.0f}s"
            ) from None
        if check and out.returncode != 0:
            raise DriverError(f"{what} failed: {last_lines(out.stderr or out.stdout, 3)}")
        return out

    # -- preflight ------------------------------------------------------------

    def ping(self, *, timeout: float = 15.0) -> str:
        """The engine's version; PreflightError saying why when no engine answers."""
        try:
            out = subprocess.run(
                [self.binary, "version", "--format", "{{.Server.Version}}"],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError:
            raise PreflightError(_missing(self.binary)) from None
        except subprocess.TimeoutExpired:
            raise PreflightError(
                f"the Docker engine at {self.host} did not answer within {timeout:.0f}s"
            ) from None
        version = out.stdout.strip()
        if out.returncode == 0 and version:
            return version
        error = out.stderr.lower()
        if "permission denied" in error:
            raise PreflightError(
                f"no permission to use the Docker engine at {self.host}: "
                "run as root or join the `docker` group"
            )
        if any(text in error for text in _NOT_RUNNING) or not version:
            raise PreflightError(
                f"the Docker engine at {self.host} is not running: start it with "
                "`containers/ensure-dockerd` (or `systemctl start docker`)"
            )
        raise PreflightError(f"docker version failed: {last_lines(out.stderr)}")

    def compose_command(self) -> list[str]:
        """argv prefix of compose: $SHOPNET_COMPOSE, `docker compose` (v2) or `docker-compose`."""
        if self._compose is None:
            self._compose = _find_compose(self.binary)
        return list(self._compose)

    def compose_version(self) -> str:
        argv = [*self.compose_command(), "version"]
        out = self._run(argv, what="compose version", timeout=30, check=True)
        return last_lines(out.stdout)


def _find_client() -> str:
    if configured := os.environ.get("SHOPNET_DOCKER"):
        return configured
    if os.access(DEBIAN_CLIENT, os.X_OK):
        return DEBIAN_CLIENT
    return shutil.which("docker") or "docker"


def _find_compose(docker: str) -> list[str]:
    if configured := os.environ.get("SHOPNET_COMPOSE"):
        return shlex.split(configured)
    try:
        v2 = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, timeout=30, check=False
        )
        if v2.returncode == 0:
            return [docker, "compose"]
    except (OSError, subprocess.TimeoutExpired):
        pass
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    raise PreflightError(
        "neither `docker compose` nor `docker-compose` found: "
        "install it with `apt-get install docker-compose`"
    )


def _missing(binary: str) -> str:
    name = Path(binary).name
    package = {"docker": "docker.io", "docker-compose": "docker-compose"}.get(name, name)
    return f"{name} not found: install it with `apt-get install {package}`"
