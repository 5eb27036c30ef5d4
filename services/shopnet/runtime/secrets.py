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

from shopnet.runtime import nofollow
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
        if path.exists() or path.is_symlink():
            return nofollow.read_text(path).strip()  # a link `owner` planted is refused
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
        # The folder is the service user's: write as nofollow does, not through its links.
        owned = (user.uid, user.gid) if user is not None and os.geteuid() == 0 else None
        text = text if text.endswith("\n") else text + "\n"
        return nofollow.write_private(folder, name, text, owner=owned)
