"""The cache's credentials broken, in any mode whose Redis reads the stack's ACL file.

Redis authenticates each service as its own ACL user; the ACL file (the stack's
secrets, `redis/users.acl`, owned by the user Redis runs as) holds SHA-256 hashes of
their passwords and is read when Redis starts. Each function takes how the mode
restarts Redis (netns: SIGKILL, the supervisor starts it again; docker: `docker
restart`), since a restart is what makes Redis read the file.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from shopnet.runtime import datastore_auth
from shopnet.runtime.base import Driver
from shopnet.runtime.confine import secret_store
from shopnet.runtime.secrets import RUNTIME, SecretStore

Restart = Callable[[Driver], None]
"""Restart the stack's Redis and wait until it serves again."""


def _store(driver: Driver) -> SecretStore:
    return secret_store(driver.layout)


def _acl_path(driver: Driver) -> Path:
    return _store(driver).path("redis", "users.acl")


def _write_acl(driver: Driver, text: str) -> None:
    """Replace the ACL file, keeping its owner (Redis's user) and mode 0600."""
    path = _acl_path(driver)
    stat = path.stat()
    tmp = path.with_name(".users.acl.lab")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chown(tmp, stat.st_uid, stat.st_gid)
    tmp.replace(path)


USER = "product"
"""The service whose Redis user the lab breaks (its ACL user is named after it)."""


def _acl(driver: Driver, **wrong: str) -> str:
    """The ACL file from the stack's secrets and the topology's `uses`; `wrong` gives some
    users another password."""
    store = _store(driver)
    prefixes = datastore_auth.redis_prefixes(driver.topology, "redis")
    passwords = {name: store.path(name, "redis").read_text().strip() for name in prefixes}
    return datastore_auth.redis_acl(
        prefixes, passwords | wrong, admin_password=store.get(RUNTIME, "redis-admin")
    )


def break_credentials(driver: Driver, restart: Restart) -> None:
    """Redis's ACL file with another password for the product user, and Redis restarted."""
    _write_acl(driver, _acl(driver, **{USER: secrets.token_urlsafe(24)}))
    restart(driver)


def fix_credentials(driver: Driver, restart: Restart) -> None:
    """A student's fix: the product user's hash in the ACL file made the SHA-256 of the
    password the product service reads, then Redis restarted."""
    password = _store(driver).path(USER, "redis").read_text().strip()
    wanted = hashlib.sha256(password.encode()).hexdigest()
    lines = []
    for line in _acl_path(driver).read_text().splitlines():
        if line.startswith(f"user {USER} "):
            line = " ".join(f"#{wanted}" if w.startswith("#") else w for w in line.split())
        lines.append(line)
    _write_acl(driver, "\n".join(lines) + "\n")
    restart(driver)


def restore_credentials(driver: Driver, restart: Restart) -> None:
    """The ACL file written again from the stack's secrets, and Redis restarted."""
    _write_acl(driver, _acl(driver))
    restart(driver)
