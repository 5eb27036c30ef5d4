"""Where a stack keeps its state on disk, and the state file itself.

    <root>/<mode>/state.json     what `up` started (written after every step)
    <root>/<mode>/pids/          one pidfile per process, written by the process itself
    <root>/<mode>/logs/          one log per instance
    <root>/<mode>/lab.json       the lab planted in this stack, if any (`shopnet lab`)
    <root>/<mode>/data/          PostgreSQL and Redis data, the database password and
                                 the registry token, 0600 (kept across down/up;
                                 `down --volumes` removes them)

<root> is --state-dir, else $SHOPNET_STATE_DIR, else /var/lib/shopnet for root
and $XDG_STATE_HOME/shopnet (~/.local/state/shopnet) for everyone else.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shopnet.errors import StateError


def default_root() -> Path:
    if env := os.environ.get("SHOPNET_STATE_DIR"):
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/shopnet")
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "shopnet"


@dataclass(frozen=True, slots=True)
class Layout:
    """Paths of one mode's stack."""

    dir: Path

    @property
    def state_file(self) -> Path:
        return self.dir / "state.json"

    @property
    def pids(self) -> Path:
        return self.dir / "pids"

    @property
    def logs(self) -> Path:
        return self.dir / "logs"

    @property
    def data(self) -> Path:
        return self.dir / "data"

    @property
    def lab_file(self) -> Path:
        """The running lab (`shopnet lab`): its name and the p99 bound measured before it."""
        return self.dir / "lab.json"

    def log(self, instance: str) -> Path:
        return self.logs / f"{instance}.log"

    def db_password(self) -> str:
        """The stack's database password, made once and kept with the data."""
        path = self.data / "db-password"
        if path.exists():
            return path.read_text().strip()
        self.data.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(18)
        # 0600 from the first byte, whatever the umask (O_EXCL: never through a planted link).
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(password + "\n")
        return password

    def prepare(self) -> None:
        for directory in (self.dir, self.pids, self.logs, self.data):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            directory.chmod(0o700)
        # Datastores and services run as their own users and must pass through these
        # two to reach their own directories (0700 each), but may not list them.
        self.dir.chmod(0o711)
        self.data.chmod(0o711)


@dataclass(slots=True)
class InstanceRecord:
    """An instance as `up` placed it."""

    name: str
    service: str
    address: str
    port: int
    namespace: str | None = None
    container: str | None = None


@dataclass(slots=True)
class StackState:
    """The state file: which mode, what scale, and where each instance lives."""

    mode: str
    scale: dict[str, int]
    phase: str = "starting"
    """starting → up; a state left at `starting` means `up` did not finish."""
    topology: str | None = None
    """Path of a custom topology file, or None for the default."""
    instances: list[InstanceRecord] = field(default_factory=list)
    gateway_url: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    """Driver-specific facts, e.g. sysctls to restore."""

    def save(self, layout: Layout) -> None:
        layout.dir.mkdir(parents=True, exist_ok=True)
        tmp = layout.state_file.with_suffix(".tmp")
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            out.write(json.dumps(asdict(self), indent=2) + "\n")
        tmp.chmod(0o600)
        tmp.replace(layout.state_file)  # atomic: a reader never sees half a file

    @classmethod
    def load(cls, layout: Layout) -> StackState | None:
        try:
            data = json.loads(layout.state_file.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StateError(
                f"state file {layout.state_file} is unreadable ({exc}); run `shopnet down`"
            ) from None
        data["instances"] = [InstanceRecord(**i) for i in data.get("instances", [])]
        return cls(**data)

    def instance(self, name: str) -> InstanceRecord:
        for record in self.instances:
            if record.name == name:
                return record
        known = ", ".join(r.name for r in self.instances) or "none"
        raise StateError(f"no instance {name!r} in the {self.mode} stack (instances: {known})")
