"""Real redis-server and PostgreSQL processes: binaries, data directories, command lines.

Used by local mode, netns mode (inside the database-tier namespaces) and the test
fixtures alike. PostgreSQL refuses to run as root, so when we are root both
datastores run as an unprivileged user (Debian's `postgres` / `redis` users when
installed, else `nobody`) with their data under our state directory.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shopnet.errors import PreflightError, ReadinessTimeout
from shopnet.runtime import nofollow
from shopnet.runtime.process import ProcessSpec, die_with_parent, unprivileged_user
from shopnet.topology.model import Engine
from shopnet.topology.wiring import DB_NAME, DB_USER

# Binaries we run → the Debian package that provides them.
PACKAGES = {
    "redis-server": "redis-server",
    "postgres": "postgresql",
    "initdb": "postgresql",
    "pg_dump": "postgresql-client",
    "psql": "postgresql-client",
    "pg_isready": "postgresql-client",
}


def find_binary(name: str) -> str:
    """Path of `name`; PostgreSQL's server binaries live outside PATH on Debian."""
    found = shutil.which(name)
    if found:
        return found
    if name in PACKAGES and name != "redis-server":
        bindir = _pg_bindir()
        if bindir and Path(bindir, name).exists():
            return str(Path(bindir, name))
    package = PACKAGES.get(name, name)
    raise PreflightError(f"{name} not found: install it with `apt-get install {package}`")


def _pg_bindir() -> str | None:
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and Path(out.stdout.strip(), "postgres").exists():
            return out.stdout.strip()
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=_pg_major, reverse=True)
    return str(Path(versions[0]).parent) if versions else None


def _pg_major(path: str) -> int:
    try:
        return int(Path(path).parts[-3])
    except ValueError:
        return 0


# -- Redis ---------------------------------------------------------------------


def redis_cache_args(maxmemory_mb: int, *, aclfile: str | None = None) -> tuple[str, ...]:
    """redis-server options of a cache (every mode, compose included): nothing on disk,
    least-recently-used eviction under a memory cap; with `aclfile`, its users only
    (the default user is off there), else no authentication at all."""
    access = ("--aclfile", aclfile) if aclfile else ("--protected-mode", "no")
    return (
        *("--save", "", "--appendonly", "no", *access),
        *("--maxmemory", f"{maxmemory_mb}mb", "--maxmemory-policy", "allkeys-lru"),
    )


def redis_spec(
    instance: str,
    *,
    bind: str,
    port: int,
    data_dir: Path,
    log_path: Path,
    maxmemory_mb: int = 200,
    aclfile: Path | None = None,
) -> ProcessSpec:
    """A cache-only redis-server: no persistence, LRU eviction under a memory cap."""
    user = unprivileged_user("redis")
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    require_traversable(data_dir.parent, user)
    nofollow.owned_directory(data_dir.parent, data_dir.name, mode=0o700, owner=_ids(user))
    return ProcessSpec(
        instance=instance,
        argv=(
            find_binary("redis-server"),
            *("--bind", bind, "--port", str(port), "--dir", str(data_dir), "--daemonize", "no"),
            *redis_cache_args(maxmemory_mb, aclfile=str(aclfile) if aclfile else None),
        ),
        log_path=log_path,
        user=user,
        stop_phase=1,
    )


# -- PostgreSQL ----------------------------------------------------------------


def postgres_user() -> str | None:
    return unprivileged_user("postgres")


def init_postgres(data_dir: Path, *, password: str) -> None:
    """initdb once (idempotent), with scram auth over TCP and the `shopnet` database.

    The cluster is made in `<data_dir>.partial` and renamed into place only when
    complete, so an `up` killed halfway never leaves a data directory that looks
    initialised but is not; the next `up` starts the initialisation over.
    """
    if (data_dir / "PG_VERSION").exists():
        return
    user = postgres_user()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    require_traversable(data_dir.parent, user)
    partial = data_dir.with_name(data_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    nofollow.owned_directory(partial.parent, partial.name, mode=0o700, owner=_ids(user))
    # 0600 and the postgres user's from its first byte: initdb reads it as that user.
    pwfile = nofollow.write_private(
        data_dir.parent, f".{data_dir.name}.pw", password + "\n", owner=_ids(user)
    )
    try:
        _run_as(
            user,
            [
                find_binary("initdb"),
                "-D",
                str(partial),
                "-U",
                DB_USER,
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-instructions",
            ],
            what="initdb",
        )
    finally:
        pwfile.unlink(missing_ok=True)
    # The postgres user's directory: append to its file, not through a link put there.
    hba_fd = os.open(partial / "pg_hba.conf", os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
    with os.fdopen(hba_fd, "a") as hba:
        hba.write("\n# shopnet: services connect over TCP from their own addresses\n")
        hba.write("host all all 0.0.0.0/0 scram-sha-256\n")
    # Single-user mode creates the database without a listening server (works before
    # any namespace exists, and needs no client).
    _run_as(
        user,
        [find_binary("postgres"), "--single", "-D", str(partial), "postgres"],
        what="create database",
        stdin=f"CREATE DATABASE {DB_NAME} OWNER {DB_USER};\n",
    )
    shutil.rmtree(data_dir, ignore_errors=True)  # an empty or stale directory from before
    partial.rename(data_dir)


def require_traversable(directory: Path, user: str | None) -> None:
    """Fail clearly when `user` could not reach `directory` (e.g. a state dir under /root)."""
    if user is None:
        return
    import pwd

    uid = pwd.getpwnam(user).pw_uid
    for parent in (directory, *directory.parents):
        mode = parent.stat()
        if mode.st_uid != uid and not mode.st_mode & 0o001:
            raise PreflightError(
                f"{parent} is not reachable by user {user!r}, which runs the datastores; "
                "use a state directory outside it (--state-dir or SHOPNET_STATE_DIR)"
            )


def _run_as(user: str | None, argv: list[str], *, what: str, stdin: str | None = None) -> None:
    out = subprocess.run(
        argv,
        preexec_fn=die_with_parent,
        input=stdin,
        capture_output=True,
        text=True,
        user=user,
        group=_gid(user),
        check=False,
        cwd="/",
    )
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
        raise PreflightError(f"{what} failed: {' / '.join(tail)}")


def _ids(user: str | None) -> tuple[int, int] | None:
    """(uid, gid) of `user`; None: leave ownership as it is (we are not root)."""
    if user is None:
        return None
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def _gid(user: str | None) -> int | None:
    if user is None:
        return None
    import pwd

    return pwd.getpwnam(user).pw_gid


def postgres_spec(
    instance: str, *, bind: str, port: int, data_dir: Path, log_path: Path
) -> ProcessSpec:
    # data_dir is the postgres user's: `run` there may be anything that user made of it.
    socket_dir = nofollow.owned_directory(data_dir, "run", mode=0o700, owner=_ids(postgres_user()))
    return ProcessSpec(
        instance=instance,
        argv=(
            find_binary("postgres"),
            "-D",
            str(data_dir),
            "-c",
            f"listen_addresses={bind}",
            "-p",
            str(port),
            "-c",
            f"unix_socket_directories={socket_dir}",
            "-c",
            "max_connections=200",
            "-c",
            "log_min_messages=warning",
            "-c",
            "log_line_prefix=%m [%p] ",
        ),
        log_path=log_path,
        user=postgres_user(),
        stop_signal=signal.SIGINT,  # fast shutdown: roll back clients, checkpoint, exit
        stop_phase=1,
    )


# -- readiness -----------------------------------------------------------------


def wait_for_redis(
    host: str, port: int, *, timeout: float = 20.0, auth: tuple[str, str] | None = None
) -> None:
    """Until PING answers PONG (after AUTH with `auth`, a (user, password) pair)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if redis_command(host, port, "PING", timeout=1.0, auth=auth) == b"+PONG":
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise ReadinessTimeout(f"redis at {host}:{port} did not answer PING in {timeout:.0f}s")
        time.sleep(0.05)


def wait_for_postgres(host: str, port: int, *, timeout: float = 30.0) -> None:
    """Until the server accepts connections (pg_isready exits 0; 1 is starting up, 2 no answer)."""
    pg_isready = find_binary("pg_isready")
    deadline = time.monotonic() + timeout
    while True:
        probe = subprocess.run(
            [pg_isready, "-q", "-h", host, "-p", str(port), "-t", "1"], check=False
        )
        if probe.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise ReadinessTimeout(f"postgres at {host}:{port} not ready in {timeout:.0f}s")
        time.sleep(0.05)


def redis_command(
    host: str, port: int, *args: str, timeout: float = 2.0, auth: tuple[str, str] | None = None
) -> bytes:
    """Send one command in RESP and return the first line of its reply (e.g. b"+OK").

    With `auth` (user, password) an AUTH goes first; a refused AUTH is the answer.
    """
    commands = [("AUTH", *auth), args] if auth else [args]
    request = b"".join(_resp(command) for command in commands)
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.sendall(request)
        replies = b""
        while replies.count(b"\r\n") < len(commands):
            chunk = conn.recv(4096)
            if not chunk:
                break
            replies += chunk
    lines = replies.split(b"\r\n")
    if auth and not lines[0].startswith(b"+OK"):
        return lines[0]
    return lines[len(commands) - 1]


def _resp(args: tuple[str, ...]) -> bytes:
    request = f"*{len(args)}\r\n".encode()
    for arg in args:
        data = arg.encode()
        request += b"$%d\r\n%s\r\n" % (len(data), data)
    return request


# -- by engine -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EngineKit:
    """How to run one datastore engine as a process of ours."""

    init: Callable[[Path, str], None]
    """Prepare its data directory (idempotent), given the stack's database password."""
    spec: Callable[..., ProcessSpec]
    """(instance, *, bind, port, data_dir, log_path) → its process."""
    wait: Callable[..., None]
    """(host, port, *, timeout) → returns once it answers; ReadinessTimeout otherwise."""


ENGINES = {
    Engine.POSTGRES: EngineKit(
        init=lambda data, password: init_postgres(data, password=password),
        spec=postgres_spec,
        wait=wait_for_postgres,
    ),
    Engine.REDIS: EngineKit(init=lambda data, password: None, spec=redis_spec, wait=wait_for_redis),
}
