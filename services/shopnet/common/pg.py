"""PostgreSQL for the services: a pool that waits for the server, migrations, error mapping.

Each service owns one schema and ships its migrations as numbered SQL files in
its package (`migrations/001_*.sql`). They run at start under an advisory lock,
so three product instances starting together apply each file exactly once.

A database that is down must give clients a quick 503 with Retry-After, never a
hang: pool acquisition and statements are bounded, and connection-level errors
map to ServiceUnavailable inside `unavailable_on_db_errors()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources

import asyncpg
from aiohttp import web

from shopnet.common.config import DatabaseConfig, read_secret
from shopnet.common.health import CheckResult, CheckStatus, ReadinessCheck
from shopnet.common.http import ServiceUnavailable

log = logging.getLogger("shopnet.pg")

# Errors that mean "the database is not there right now" rather than "your query is wrong".
UNAVAILABLE_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    # A pooled connection whose server was killed can fail its next statement with
    # "cannot switch to state …" (the dying backend's last message) before asyncpg
    # notices the socket closed: the server is gone, not the query wrong.
    asyncpg.exceptions.InternalClientError,
)


async def connect_pool(
    dsn: str,
    *,
    min_size: int = 2,
    max_size: int = 10,
    wait_seconds: float = 60.0,
    command_timeout: float = 5.0,
    password: str | None = None,
) -> asyncpg.Pool:
    """A pool, retrying while the server starts (up to `wait_seconds`)."""
    deadline = time.monotonic() + wait_seconds
    delay = 0.1
    while True:
        try:
            return await asyncpg.create_pool(
                dsn,
                password=password,
                min_size=min_size,
                max_size=max_size,
                timeout=2.0,
                command_timeout=command_timeout,
                # Close idle connections so a restarted server is picked up quickly.
                max_inactive_connection_lifetime=60.0,
            )
        except (*UNAVAILABLE_ERRORS, asyncpg.exceptions.PostgresError) as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("database not reachable yet (%s); retrying", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def migrate(pool: asyncpg.Pool, *, schema: str, package: str, role: str = "") -> list[str]:
    """Apply `package`'s migrations/*.sql not yet recorded in `schema.schema_migrations`.

    With `role` (the schema's owner) they run after `SET ROLE`, so what they create
    belongs to the owner while the service's own login role keeps data rights only.
    """
    files = sorted(
        (
            f
            for f in resources.files(package).joinpath("migrations").iterdir()
            if f.name.endswith(".sql")
        ),
        key=lambda f: f.name,
    )
    applied = []
    lock_id = zlib.crc32(f"shopnet:migrate:{schema}".encode())
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", lock_id)
        try:
            if role:
                await conn.execute(f'SET ROLE "{role}"')
            # CREATE SCHEMA IF NOT EXISTS checks the database's CREATE right even when
            # the schema exists, which an owner made by the runtime does not have.
            if not await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema):
                await conn.execute(f'CREATE SCHEMA "{schema}"')
            await conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations '
                "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {
                r["name"]
                for r in await conn.fetch(f'SELECT name FROM "{schema}".schema_migrations')
            }
            for file in files:
                if file.name in done:
                    continue
                async with conn.transaction():
                    await conn.execute(file.read_text())
                    await conn.execute(
                        f'INSERT INTO "{schema}".schema_migrations (name) VALUES ($1)', file.name
                    )
                applied.append(file.name)
                log.info("migration applied", extra={"migration": file.name, "schema": schema})
        finally:
            if role:
                await conn.execute("RESET ROLE")  # the connection goes back to the pool
            await conn.execute("SELECT pg_advisory_unlock($1)", lock_id)
    return applied


async def open_database(
    cfg: DatabaseConfig,
    *,
    schema: str,
    package: str,
    prepare: Callable[[asyncpg.Pool], Awaitable[object]] | None = None,
) -> asyncpg.Pool:
    """The service's pool, its schema migrated and (`prepare`) e.g. seeded; for a cleanup_ctx."""
    pool = await connect_pool(
        cfg.database_url,
        min_size=cfg.db_pool_min,
        max_size=cfg.db_pool_max,
        wait_seconds=cfg.db_wait_seconds,
        command_timeout=cfg.db_timeout_seconds,
        password=read_secret(cfg.database_password_file),
    )
    try:
        await migrate(pool, schema=schema, package=package, role=cfg.db_migration_role)
        if prepare is not None:
            await prepare(pool)
    except BaseException:
        pool.terminate()  # aiohttp runs no cleanup for a context whose start failed
        raise
    return pool


async def close_pool(pool: asyncpg.Pool, *, timeout: float) -> None:
    """Close gracefully; a database that stopped answering must not hang shutdown.

    However the close ends (timeout, error, or the caller cancelled), the pool is closed
    afterwards: an open pool keeps a task that restores its connection floor, retrying
    for as long as the loop runs, even against a database that is gone.
    """
    try:
        async with asyncio.timeout(timeout):
            await pool.close()
    except TimeoutError:
        pool.terminate()
    except BaseException:
        pool.terminate()
        raise


@contextlib.asynccontextmanager
async def unavailable_on_db_errors() -> AsyncIterator[None]:
    """Turn "database not reachable" errors into a 503 with Retry-After."""
    try:
        yield
    except UNAVAILABLE_ERRORS as exc:
        raise ServiceUnavailable(
            f"database unavailable: {type(exc).__name__}", retry_after=2
        ) from exc


def pool_readiness(key: web.AppKey[asyncpg.Pool]) -> ReadinessCheck:
    """Readiness check: the pool can run `SELECT 1`."""

    async def check(app: web.Application) -> CheckResult:
        try:
            async with app[key].acquire(timeout=1.0) as conn:
                await conn.fetchval("SELECT 1", timeout=1.0)
        except (*UNAVAILABLE_ERRORS, asyncpg.exceptions.PostgresError) as exc:
            return CheckResult(CheckStatus.DOWN, f"{type(exc).__name__}: {exc}")
        return CheckResult(CheckStatus.OK)

    return check
