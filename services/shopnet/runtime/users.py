"""The unprivileged system users our processes run as when we are root.

One user per application service (`shopnet-gateway`, `shopnet-product`, …), so a
compromised product instance cannot read the order service's secrets; the
datastores keep Debian's `postgres` and `redis` users (else `nobody`). Users are
created on demand with `useradd --system` and never removed: creation is
idempotent, and another stack (or a test running beside us) may share them.
"""

from __future__ import annotations

import pwd
import subprocess
from dataclasses import dataclass

from shopnet.errors import PreflightError

PREFIX = "shopnet-"
DATASTORE_USERS = {"postgres": "postgres", "redis": "redis"}
USERADD_EXISTS = 9  # useradd(8): username or group name already in use


@dataclass(frozen=True, slots=True)
class User:
    """A system user as the sandbox needs it."""

    name: str
    uid: int
    gid: int


def user_for(service: str) -> str:
    """The user name a service's processes run as."""
    return DATASTORE_USERS.get(service, f"{PREFIX}{service}")


def ensure(name: str) -> User:
    """The user `name`, created (with its own group, no home, no shell) if missing."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        entry = _existing("nobody") if name in DATASTORE_USERS.values() else _create(name)
    return User(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _create(name: str) -> pwd.struct_passwd:
    argv = [
        "useradd",
        *("--system", "--user-group", "--no-create-home"),
        *("--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin"),
        *("--comment", "shopnet service (created by shopnet up)"),
        name,
    ]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise PreflightError(
            "useradd not found: install it with `apt-get install passwd`"
        ) from None
    # A concurrent `up` may have created it between our lookup and useradd.
    if done.returncode not in (0, USERADD_EXISTS):
        raise PreflightError(f"useradd {name} failed: {done.stderr.strip()}")
    return _existing(name)


def _existing(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise PreflightError(f"no user {name!r} to run as") from None
