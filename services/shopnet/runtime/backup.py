"""`shopnet backup` / `restore`: the schemas of the durable database, as plain SQL.

What is backed up comes from the topology, not from names: the durable
PostgreSQL datastore and the schemas its users own (`Service.uses`). pg_dump
writes them with DROP … IF EXISTS, so a restore replaces the data wholesale;
after a restore the caches are stale, so callers flush each cache user's key
prefix (SCAN + UNLINK: never FLUSHALL, which would take other users' keys too).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shopnet.errors import ConfigError, DriverError, ShopnetError
from shopnet.runtime import datastore_auth
from shopnet.runtime.datastores import find_binary
from shopnet.topology.model import Durability, Engine, Service, Topology
from shopnet.topology.wiring import DB_NAME, DB_USER

if TYPE_CHECKING:
    from shopnet.runtime.base import InstanceStatus
    from shopnet.runtime.state import Layout

FLUSH_PREFIX = """
local cursor = "0"
local removed = 0
repeat
  local reply = redis.call("SCAN", cursor, "MATCH", ARGV[1], "COUNT", 1000)
  cursor = reply[1]
  for _, key in ipairs(reply[2]) do
    redis.call("UNLINK", key)
    removed = removed + 1
  end
until cursor == "0"
return removed
"""
"""Lua: UNLINK every key matching ARGV[1], found with SCAN; returns how many."""


@dataclass(frozen=True, slots=True)
class Flush:
    """One cache user's keys, dropped after a restore."""

    datastore: str
    owner: str
    db: int
    key_prefix: str

    @property
    def pattern(self) -> str:
        """SCAN MATCH pattern of the prefix (glob characters in it escaped)."""
        return datastore_auth.key_pattern(self.key_prefix)


def database(topology: Topology) -> tuple[Service, tuple[str, ...]]:
    """The durable PostgreSQL datastore and the schemas its users own, in file order."""
    found = [
        s
        for s in topology.datastores(Engine.POSTGRES)
        if s.datastore is not None and s.datastore.durability is Durability.DURABLE
    ]
    if len(found) != 1:
        raise ConfigError(
            f"backup needs exactly one durable PostgreSQL datastore; the topology has {len(found)}"
        )
    schemas = tuple(u.schema for _, u in topology.users_of(found[0].name) if u.schema)
    return found[0], schemas


def flushes(topology: Topology) -> tuple[Flush, ...]:
    """What a restore flushes: each cache user's key prefix."""
    return tuple(
        Flush(store.name, owner.name, use.db, use.key_prefix)
        for store in topology.datastores(Engine.REDIS)
        if store.datastore is not None and store.datastore.durability is Durability.CACHE
        for owner, use in topology.users_of(store.name)
        if use.key_prefix
    )


def flushed_message(done: tuple[Flush, ...]) -> str:
    owners = ", ".join(dict.fromkeys(f.owner for f in done))
    return f"; {owners} cache flushed" if owners else ""


def flush(host: str, port: int, item: Flush, *, auth: tuple[str, str] | None = None) -> int:
    """Drop one cache user's keys from the Redis at host:port; returns how many.

    `auth` is the (user, password) to log in as: the runtime's Redis admin where the
    datastores authenticate (its ACL allows this script on the cache users' keys).
    """
    import redis

    user, password = auth if auth else (None, None)
    with redis.Redis(
        host=host, port=port, db=item.db, username=user, password=password, socket_timeout=10
    ) as client:
        try:
            return int(client.eval(FLUSH_PREFIX, 0, item.pattern))
        except redis.RedisError as exc:
            raise DriverError(f"flushing {item.owner}'s cache in {item.datastore}: {exc}") from None


def _env(password: str) -> dict[str, str]:
    return {**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"}


def dump_args(host: str, port: int, schemas: tuple[str, ...]) -> list[str]:
    args = ["-h", host, "-p", str(port), "-U", DB_USER, "-d", DB_NAME]
    args += ["--clean", "--if-exists", "--no-owner", "--no-privileges"]
    for schema in schemas:
        args += ["-n", schema]
    return args


def restore_args(host: str, port: int) -> list[str]:
    # One transaction: a restore that fails halfway leaves the database as it was.
    return [
        *("-h", host, "-p", str(port), "-U", DB_USER, "-d", DB_NAME),
        *("-1", "-v", "ON_ERROR_STOP=1", "-q"),
    ]


def run_dump(argv: list[str], path: Path, *, env: dict[str, str]) -> None:
    """pg_dump (however it is run: here or in a container) into `path`, never half-written."""
    tmp = path.with_name(path.name + ".partial")
    # Private from the first byte: a backup holds every order.
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
        result = subprocess.run(argv, stdout=out, stderr=subprocess.PIPE, env=env, check=False)
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise DriverError(f"pg_dump failed: {_one_line(result.stderr)}")
    tmp.chmod(0o600)  # also when an older .partial was there
    tmp.replace(path)  # never leave a half-written backup under the real name


def run_restore(argv: list[str], path: Path, *, env: dict[str, str]) -> None:
    """psql (however it is run) fed `path`, in one transaction."""
    require_file(path)
    with open(path, "rb") as source:
        result = subprocess.run(argv, stdin=source, capture_output=True, env=env, check=False)
    if result.returncode != 0:
        raise DriverError(f"restore failed, database unchanged: {_one_line(result.stderr)}")


def require_file(path: Path) -> None:
    if not path.is_file():
        raise DriverError(f"no backup file at {path}")


def backed_up(schemas: tuple[str, ...], path: Path) -> str:
    return f"backed up schemas {', '.join(schemas)} to {path} ({path.stat().st_size} bytes)"


def restored(schemas: tuple[str, ...], path: Path) -> str:
    return f"restored schemas {', '.join(schemas)} from {path}"


def backup(path: Path, *, host: str, port: int, password: str, schemas: tuple[str, ...]) -> str:
    run_dump([find_binary("pg_dump"), *dump_args(host, port, schemas)], path, env=_env(password))
    return backed_up(schemas, path)


def restore(path: Path, *, host: str, port: int, password: str, schemas: tuple[str, ...]) -> str:
    run_restore([find_binary("psql"), *restore_args(host, port)], path, env=_env(password))
    return restored(schemas, path)


def _one_line(stderr: bytes) -> str:
    return " / ".join(
        line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()
    )


def host_cache_flusher(
    layout: Layout, topology: Topology, rows: Sequence[InstanceStatus]
) -> contextlib.AbstractContextManager[Callable[[], None] | None]:
    """CacheFlushing from the host: to each cache's address in `rows` (the stack's status),
    as its admin user; None when the topology has no cache."""
    from shopnet.runtime.confine import redis_auth

    auth = redis_auth(layout)
    targets = []
    for item in flushes(topology):
        cache = next((r for r in rows if r.instance == f"{item.datastore}-1"), None)
        if cache is not None:
            host, port = cache.address.rsplit(":", 1)
            targets.append((host, int(port), item))

    def flush_all() -> None:
        for host, port, item in targets:
            with contextlib.suppress(ShopnetError):
                flush(host, port, item, auth=auth)

    return contextlib.nullcontext(flush_all if targets else None)
