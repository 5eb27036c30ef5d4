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


def test_a_test_that_leaves_a_pool_open_errors_in_seconds(tmp_path: Path) -> None:
    """The whole fixture chain in a pytest of its own: the leak is an error at teardown."""
    (tmp_path / "test_leak.py").write_text(textwrap.dedent(LEAKY_TEST))
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
    argv += ["-o", "timeout=120", str(tmp_path / "test_leak.py")]
    run = subprocess.run(
        argv,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    took = time.monotonic() - started
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "1 passed, 1 error" in out and "outlived the test" in out, out
    assert took < 30, f"{took:.0f} s"
