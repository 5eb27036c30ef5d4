"""Fixture teardown: a pool that outlives its test fails that test at once, it never hangs
the run (issue 23: a product pool kept retrying its connection floor against its dropped
test database until the 300 s per-test timeout)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from shopnet.common.pg import close_pool, connect_pool
from tests.support.servers import PostgresServer
from tests.support.teardown import drop_database

REPO = Path(__file__).resolve().parents[2]


async def test_dropping_a_database_with_a_pool_open_reports_and_terminates_it(
    postgres_server: PostgresServer, database_url: str
) -> None:
    pool = await connect_pool(database_url, min_size=2, max_size=2)
    try:
        name = database_url.rsplit("/", 1)[1]
        left = await drop_database(postgres_server.dsn("postgres"), name)
        assert len(left) == 2  # the pool's floor
        assert pool.is_closing()  # terminated: no floor-keeping task against a dropped database
    finally:
        await close_pool(pool, timeout=5)


async def test_closed_pools_leave_nothing_to_report(
    postgres_server: PostgresServer, database_url: str
) -> None:
    pool = await connect_pool(database_url, min_size=2, max_size=2)
    await close_pool(pool, timeout=5)
    name = database_url.rsplit("/", 1)[1]
    assert await drop_database(postgres_server.dsn("postgres"), name) == []


LEAKY_TEST = """
from shopnet.common.pg import connect_pool
from tests.conftest import database_url, postgres_server  # noqa: F401

async def test_leaves_its_pool_open(database_url):
    pool = await connect_pool(database_url, min_size=2, max_size=2)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT 1") == 1
"""


STUCK_CLEANUP_TEST = """
import asyncio
import time

from aiohttp import web

from shopnet.common.pg import connect_pool
from tests.conftest import aiohttp_server, database_url, postgres_server  # noqa: F401
from tests.support import teardown

teardown.APP_CLOSE_SECONDS = 1.0
DSN = web.AppKey("dsn", str)


async def loses_its_cancellations_for_a_while():
    # As the cache probe of issue 23 did when redis-py's wait_for swallowed its cancel.
    first = None
    while True:
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            first = first or time.monotonic()
            if time.monotonic() - first > 2:
                raise


async def pool_and_loop(app):
    pool = await connect_pool(app[DSN], min_size=2, max_size=2)
    task = asyncio.create_task(loses_its_cancellations_for_a_while(), name="stubborn-loop")
    yield
    task.cancel()
    await task  # one cancel, lost: this waits forever
    await pool.close()


async def test_serves_an_app_whose_cleanup_hangs(database_url, aiohttp_server):
    app = web.Application()
    app[DSN] = database_url
    app.cleanup_ctx.append(pool_and_loop)
    await aiohttp_server(app)
"""


def run_alone(tmp_path: Path, source: str) -> tuple[str, float]:
    """Run `source` as a test file in a pytest of its own (120 s timeout): output, seconds."""
    (tmp_path / "test_alone.py").write_text(textwrap.dedent(source))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.monotonic()
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(tmp_path),
    ]
    argv += ["-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function"]
    argv += ["-o", "timeout=120", str(tmp_path / "test_alone.py")]
    run = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=150)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    return out, time.monotonic() - started


def test_a_test_that_leaves_a_pool_open_errors_in_seconds(tmp_path: Path) -> None:
    """The whole fixture chain in a pytest of its own: the leak is an error at teardown."""
    out, took = run_alone(tmp_path, LEAKY_TEST)
    assert "1 passed, 1 error" in out and "outlived the test" in out, out
    assert took < 30, f"{took:.0f} s"


@pytest.mark.timeout(200)
def test_an_app_whose_cleanup_hangs_errors_in_seconds(tmp_path: Path) -> None:
    """aiohttp_server's close is bounded: a cleanup stuck on a lost cancellation (issue 23)
    fails its test in seconds, naming the task, and its pool is still caught and ended
    before the database goes (pytest-aiohttp's own fixture hung until the timeout)."""
    out, took = run_alone(tmp_path, STUCK_CLEANUP_TEST)
    assert "1 passed, 1 error" in out, out
    assert "did not close within 1 s (tasks running then: stubborn-loop)" in out, out
    assert "outlived the test" in out, out
    assert took < 30, f"{took:.0f} s"
