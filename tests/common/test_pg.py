"""PostgreSQL helpers against a real server: pool, migrations once, errors → 503, readiness."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from aiohttp import web

import shopnet.order
from shopnet.common.health import CheckStatus
from shopnet.common.http import ServiceUnavailable
from shopnet.common.pg import (
    close_pool,
    connect_pool,
    migrate,
    pool_readiness,
    unavailable_on_db_errors,
)
from tests.support.servers import free_port

POOL = web.AppKey("pool", asyncpg.Pool)


async def test_migrations_run_once_and_are_recorded(database_url: str) -> None:
    pool = await connect_pool(database_url, min_size=1, max_size=2)
    try:
        first = await migrate(pool, schema="orders", package="shopnet.order")
        again = await migrate(pool, schema="orders", package="shopnet.order")
        recorded = await pool.fetch("SELECT name FROM orders.schema_migrations")
    finally:
        await close_pool(pool, timeout=5)
    # Every file of the package, in name order, once.
    files = sorted(
        f.name
        for f in (Path(shopnet.order.__file__).parent / "migrations").iterdir()
        if f.suffix == ".sql"
    )
    assert first == files and first[0] == "001_orders.sql"
    assert again == []
    assert [r["name"] for r in recorded] == first


async def test_readiness_is_ok_then_down_when_the_pool_is_gone(database_url: str) -> None:
    app = web.Application()
    app[POOL] = await connect_pool(database_url, min_size=1, max_size=1)
    check = pool_readiness(POOL)
    assert (await check(app)).status is CheckStatus.OK
    app[POOL].terminate()
    result = await check(app)
    assert result.status is CheckStatus.DOWN and result.detail


async def test_a_server_that_never_answers_fails_after_the_wait() -> None:
    dsn = f"postgresql://nobody:x@127.0.0.1:{free_port()}/none"
    with pytest.raises(OSError):
        await connect_pool(dsn, wait_seconds=0.3)


async def test_unreachable_database_errors_become_503() -> None:
    with pytest.raises(ServiceUnavailable) as caught:
        async with unavailable_on_db_errors():
            raise ConnectionRefusedError("refused")
    assert caught.value.status == 503
    assert caught.value.headers["Retry-After"] == "2"
    with pytest.raises(asyncpg.exceptions.UndefinedTableError):  # a wrong query stays itself
        async with unavailable_on_db_errors():
            raise asyncpg.exceptions.UndefinedTableError("no table")
