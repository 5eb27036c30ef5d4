"""A stack's secrets: generated once, kept with its data, readable only by who needs them.

    <data>/secrets/             0711 root: passable, not listable
    <data>/secrets/<service>/   0700, owned by the service's user (files 0600)
    <data>/secrets/runtime/     0700 root: what only `shopnet` itself uses

A service learns a *path* (e.g. DATABASE_PASSWORD_FILE), never the secret itself:
nothing secret goes into argv, environment, logs or `status`. `down --volumes`
removes them with the data; PostgreSQL role passwords are set again on every `up`.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from shopnet.runtime.users import User

RUNTIME = "runtime"


@dataclass(frozen=True, slots=True)
class SecretStore:
    """The secrets directory of one stack."""

    dir: Path

    def path(self, owner: str, name: str) -> Path:
        return self.dir / owner / name

    def folder(self, owner: str, *, user: User | None = None) -> Path:
        """`owner`'s directory (0700, owned by `user` when we are root), made if missing."""
        self.dir.mkdir(mode=0o711, parents=True, exist_ok=True)
        self.dir.chmod(0o711)
        folder = self.dir / owner
        folder.mkdir(mode=0o700, exist_ok=True)
        folder.chmod(0o700)
        if user is not None and os.geteuid() == 0:
            os.chown(folder, user.uid, user.gid)
        return folder

    def get(self, owner: str, name: str, *, user: User | None = None) -> str:
        """The secret `name` of `owner` (a service, or "runtime"), made on first use."""
        path = self.path(owner, name)
        if path.exists():
            return path.read_text().strip()
        value = secrets.token_urlsafe(24)
        self.write(owner, name, value, user=user)
        return value

    def file(self, owner: str, name: str, *, user: User | None = None) -> Path:
        """Where the secret `name` of `owner` is kept, made on first use (for a *_FILE setting)."""
        self.get(owner, name, user=user)
        return self.path(owner, name)

    def write(self, owner: str, name: str, text: str, *, user: User | None = None) -> Path:
        """Store `text` as `owner`'s file `name` (0600, owned by `user` when we are root)."""
        folder = self.folder(owner, user=user)
        path = folder / name
        tmp = path.with_name(f".{name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text if text.endswith("\n") else text + "\n")
        if user is not None and os.geteuid() == 0:
            os.chown(tmp, user.uid, user.gid)
        tmp.replace(path)
        return path
