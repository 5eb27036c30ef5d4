"""`backup` / `restore` of a docker stack: pg_dump and psql inside the database container.

The same arguments, schemas and cache flushes as the other modes
(shopnet.runtime.backup); only the way in differs: `docker exec`, with the
passwords passed through the environment (`-e PGPASSWORD`, `-e REDISCLI_AUTH`: the
superuser's, the Redis admin's), never in argv. After a restore the roles SQL the
database container mounts is applied again: pg_dump's SQL recreates the tables as the
superuser, and they go back to their owners as in the other modes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from shopnet.errors import DriverError, StateError
from shopnet.runtime import backup as pg_backup
from shopnet.runtime.confine import redis_auth
from shopnet.topology.wiring import DB_NAME, DB_USER
from shopnet_docker import secretfiles
from shopnet_docker.stack import Container

if TYPE_CHECKING:
    from shopnet_docker.project import Project


def _running(project: Project, service: str) -> Container:
    project.docker.ping()
    container = project.stack.container(f"{service}-1")
    if not container.running:
        raise StateError(f"{container.name} is not running ({container.state})")
    return container


def _pg_env(project: Project) -> dict[str, str]:
    return {**os.environ, "PGPASSWORD": project.layout.db_password()}


def backup(project: Project, path: Path) -> str:
    store, schemas = pg_backup.database(project.topology)
    postgres = _running(project, store.name)
    argv = [project.docker.binary, "exec", "-e", "PGPASSWORD", postgres.name, "pg_dump"]
    argv += pg_backup.dump_args("127.0.0.1", store.port, schemas)
    pg_backup.run_dump(argv, path, env=_pg_env(project))
    return pg_backup.backed_up(schemas, path)


def restore(project: Project, path: Path) -> str:
    store, schemas = pg_backup.database(project.topology)
    pg_backup.require_file(path)
    flushes = pg_backup.flushes(project.topology)
    caches = {f.datastore: _running(project, f.datastore) for f in flushes}
    postgres = _running(project, store.name)
    argv = [project.docker.binary, "exec", "-i", "-e", "PGPASSWORD", postgres.name, "psql"]
    argv += pg_backup.restore_args("127.0.0.1", store.port)
    pg_backup.run_restore(argv, path, env=_pg_env(project))
    roles = secretfiles.SecretFile(store.name, secretfiles.ROLES).mount
    project.docker.run(
        "exec", postgres.name, "psql", "-X", "-q", "-h", "/tmp", "-U", DB_USER, "-d", DB_NAME,
        "-v", "ON_ERROR_STOP=1", "-f", roles,
        what="handing the restored tables back to their owners",
    )  # fmt: skip
    auth = redis_auth(project.layout)
    login = ["-e", "REDISCLI_AUTH"] if auth else []
    user = ["--user", auth[0]] if auth else []
    env = {**os.environ, "REDISCLI_AUTH": auth[1]} if auth else None
    for item in flushes:
        out = project.docker.run(
            "exec", *login, caches[item.datastore].name, "redis-cli", *user, "-n", str(item.db),
            "EVAL", pg_backup.FLUSH_PREFIX, "0", item.pattern,
            what=f"flushing {item.owner}'s cache", env=env,
        )  # fmt: skip
        if not out.stdout.strip().isdigit():  # redis-cli prints an error reply and exits 0
            raise DriverError(f"flushing {item.owner}'s cache: {out.stdout.strip()}")
    return pg_backup.restored(schemas, path) + pg_backup.flushed_message(flushes)
