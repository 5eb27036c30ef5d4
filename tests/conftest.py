"""Shared fixtures: real PostgreSQL and Redis servers (one of each per test session),
a fresh database and a flushed Redis for every test that asks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import BaseTestServer, TestClient, TestServer

from shopnet.errors import PreflightError
from shopnet.runtime.progress import Progress
from shopnet_docker.engine import Docker
from shopnet_docker.images import BuildReport, build_images
from tests.support.servers import PostgresServer, RedisServer, remove_scratch_dirs
from tests.support.teardown import TeardownError, close_within, drop_database


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A passing session leaves no scratch directory behind; a failing one keeps them."""
    if exitstatus == 0:
        remove_scratch_dirs()


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


# -- pytest-aiohttp's factories, with a bounded close ---------------------------------------
# Theirs close every server and client with no bound: one app whose cleanup never ended
# (issue 23: a cache probe that lost its cancellation) held the test until the 300 s
# timeout, and its pools stayed open while the test database went. These close each one
# within tests.support.teardown's bounds and fail the test with where it was stuck.


@pytest.fixture
async def aiohttp_server() -> AsyncIterator[Any]:
    """aiohttp_server(app, *, host, port, **start_server kwargs) -> a started TestServer."""
    servers: list[TestServer] = []

    async def serve(
        app: web.Application, *, host: str = "127.0.0.1", port: int | None = None, **kwargs: Any
    ) -> TestServer:
        server = TestServer(app, host=host, port=port)
        servers.append(server)  # before starting: a half-started app is closed too
        await server.start_server(**kwargs)
        return server

    yield serve
    await _close_all(servers, "a server of aiohttp_server")


@pytest.fixture
async def aiohttp_client() -> AsyncIterator[Any]:
    """aiohttp_client(app or server, *, server_kwargs, **client kwargs) -> a started TestClient."""
    clients: list[TestClient[Any, Any]] = []

    async def connect(
        target: web.Application | BaseTestServer,
        *,
        server_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> TestClient[Any, Any]:
        if isinstance(target, web.Application):
            target = TestServer(target, **(server_kwargs or {}))
        client: TestClient[Any, Any] = TestClient(target, **kwargs)
        clients.append(client)
        await client.start_server()
        return client

    yield connect
    await _close_all(clients, "a client of aiohttp_client")


async def _close_all(closables: list[Any], what: str) -> None:
    """Close each (newest first), every one even when one fails; the first failure raised."""
    failures: list[BaseException] = []
    while closables:
        try:
            await close_within(closables.pop(), what)
        except Exception as exc:
            failures.append(exc)
    if failures:
        raise failures[0]


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
