"""`shopnet backup` / `restore`: the products and orders schemas, as plain SQL.

pg_dump writes both schemas with DROP … IF EXISTS, so a restore replaces the
data wholesale; after a restore the product cache is stale, so callers flush Redis.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from shopnet.errors import DriverError
from shopnet.runtime.datastores import find_binary
from shopnet.topology.wiring import DB_NAME, DB_USER

SCHEMAS = ("products", "orders")


def _env(password: str) -> dict[str, str]:
    return {**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"}


def dump_args(host: str, port: int) -> list[str]:
    args = ["-h", host, "-p", str(port), "-U", DB_USER, "-d", DB_NAME]
    args += ["--clean", "--if-exists", "--no-owner", "--no-privileges"]
    for schema in SCHEMAS:
        args += ["-n", schema]
    return args


def restore_args(host: str, port: int) -> list[str]:
    # One transaction: a restore that fails halfway leaves the database as it was.
    return [
        "-h",
        host,
        "-p",
        str(port),
        "-U",
        DB_USER,
        "-d",
        DB_NAME,
        "-1",
        "-v",
        "ON_ERROR_STOP=1",
        "-q",
    ]


def backup(path: Path, *, host: str, port: int, password: str) -> str:
    tmp = path.with_name(path.name + ".partial")
    # Private from the first byte: a backup holds every order.
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
        result = subprocess.run(
            [find_binary("pg_dump"), *dump_args(host, port)],
            stdout=out,
            stderr=subprocess.PIPE,
            env=_env(password),
            check=False,
        )
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise DriverError(f"pg_dump failed: {_one_line(result.stderr)}")
    tmp.chmod(0o600)  # also when an older .partial was there
    tmp.replace(path)  # never leave a half-written backup under the real name
    return f"backed up schemas {', '.join(SCHEMAS)} to {path} ({path.stat().st_size} bytes)"


def restore(path: Path, *, host: str, port: int, password: str) -> str:
    if not path.is_file():
        raise DriverError(f"no backup file at {path}")
    with open(path, "rb") as source:
        result = subprocess.run(
            [find_binary("psql"), *restore_args(host, port)],
            stdin=source,
            capture_output=True,
            env=_env(password),
            check=False,
        )
    if result.returncode != 0:
        raise DriverError(f"restore failed, database unchanged: {_one_line(result.stderr)}")
    return f"restored schemas {', '.join(SCHEMAS)} from {path}"


def _one_line(stderr: bytes) -> str:
    return " / ".join(
        line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()
    )
