"""Shared fixtures: real PostgreSQL and Redis servers (one of each per test session),
a fresh database and a flushed Redis for every test that asks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
import redis.asyncio as aioredis

from shopnet.errors import PreflightError
from shopnet.runtime.progress import Progress
from shopnet_docker.engine import Docker
from shopnet_docker.images import BuildReport, build_images
from tests.support.servers import PostgresServer, RedisServer
from tests.support.teardown import TeardownError, drop_database


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    yield server
    server.destroy()


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL of this test alone, to stop and start."""
    server = PostgresServer()
    server.start()
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.destroy()


@pytest.fixture
async def database_url(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """A new, empty database on the session's server; dropped afterwards, failing the test
    if a session on it (a pool whose app was not closed) outlived the test."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_server.dsn("postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield postgres_server.dsn(name)
    # Fixtures that serve an app on this database close it in their own teardown, which
    # pytest runs before this one because they depend on it (tests.support.teardown).
    left = await drop_database(postgres_server.dsn("postgres"), name)
    if left:
        raise TeardownError(
            f"{len(left)} session(s) still on test database {name} after its test: "
            f"{', '.join(left)}; an app or pool outlived the test (close it before the "
            "database goes); its pools were terminated"
        )


@pytest.fixture
async def redis_url(redis_server: RedisServer) -> AsyncIterator[str]:
    """The session's Redis, flushed before the test."""
    client = aioredis.from_url(redis_server.url)
    await client.flushall()
    await client.aclose()
    yield redis_server.url


@pytest.fixture
def registry_token_file(tmp_path) -> str:
    """Path of a registry token file (tests.support.registry.TOKEN) for registries and clients."""
    from tests.support.registry import write_token_file

    return write_token_file(tmp_path)


# -- the Docker engine and the images: docker, swarm, audit and k8s tests share them ------


@pytest.fixture(scope="session")
def docker() -> Docker:
    """A running Docker engine; the docker tests fail (not skip) without one."""
    engine = Docker()
    try:
        engine.ping()
    except PreflightError as exc:
        pytest.fail(f"the docker tests need a Docker engine: {exc}")
    return engine


@pytest.fixture(scope="session")
def images(docker: Docker) -> BuildReport:
    """Every image, built offline by the same function `shopnet images build` runs.

    Cached layers make this a second or two once the base exists (about a minute cold).
    """
    return build_images(Progress(quiet=True), docker=docker)
