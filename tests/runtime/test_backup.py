"""Backup and restore against a real PostgreSQL, cache flushes against a real Redis, and what
both take from the topology (the owners' schemas, the cache users' key prefixes)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

import redis
from shopnet.errors import ConfigError, DriverError
from shopnet.runtime import backup
from shopnet.runtime.backup import Flush
from shopnet.topology import default_topology
from shopnet.topology.load import parse
from tests.support.servers import PostgresServer, RedisServer


def test_the_default_topology_backs_up_the_owners_schemas_and_flushes_the_product_cache() -> None:
    store, schemas = backup.database(default_topology())
    assert store.name == "postgres"
    assert schemas == ("products", "orders")
    assert backup.flushes(default_topology()) == (
        Flush(datastore="redis", owner="product", db=0, key_prefix="shopnet:product"),
    )
    assert backup.flushed_message(backup.flushes(default_topology())) == "; product cache flushed"


def test_a_topology_without_a_durable_database_cannot_be_backed_up() -> None:
    topology = parse(
        {
            "tiers": {"t": {"bridge": "br-t", "subnet": "10.253.0.0/24"}},
            "services": {
                "redis": {"kind": "datastore", "engine": "redis", "durability": "cache",
                          "tier": "t", "host": 10, "port": 6379},
            },
        },
        source="test",
    )  # fmt: skip
    with pytest.raises(ConfigError, match="exactly one durable PostgreSQL datastore"):
        backup.database(topology)


def test_glob_characters_in_a_prefix_are_matched_literally() -> None:
    assert Flush("r", "o", 0, "a*b[1]?").pattern == "a\\*b\\[1\\]\\?*"


def test_a_flush_removes_only_its_owners_keys(redis_server: RedisServer) -> None:
    client = redis.Redis(host=redis_server.host, port=redis_server.port, db=3)
    try:
        client.flushdb()
        client.mset({f"shopnet:product:{i}": "p" for i in range(2500)})  # several SCAN pages
        client.mset({"shopnet:products:gen": "7", "shopnet:order:1": "o", "other": "x"})
        item = Flush("redis", "product", 3, "shopnet:product")
        removed = backup.flush(redis_server.host, redis_server.port, item)
        assert removed == 2501
        assert sorted(client.keys()) == [b"other", b"shopnet:order:1"]
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
async def schemas(postgres_server: PostgresServer) -> AsyncIterator[tuple[str, str]]:
    """Two schemas of our own in the server's `shopnet` database, with a row each."""
    tag = uuid.uuid4().hex[:8]
    names = (f"bk_a_{tag}", f"bk_b_{tag}")
    conn = await asyncpg.connect(postgres_server.dsn())
    try:
        for name in names:
            await conn.execute(f"CREATE SCHEMA {name}; CREATE TABLE {name}.t (v text)")
            await conn.execute(f"INSERT INTO {name}.t VALUES ('{name}')")
        yield names
    finally:
        for name in names:
            await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        await conn.close()


def connection(server: PostgresServer, schemas: tuple[str, ...]) -> dict[str, Any]:
    return {"host": server.host, "port": server.port, "password": server.password,
            "schemas": schemas}  # fmt: skip


async def values(server: PostgresServer, schema: str) -> list[str]:
    conn = await asyncpg.connect(server.dsn())
    try:
        return [r["v"] for r in await conn.fetch(f"SELECT v FROM {schema}.t ORDER BY v")]
    finally:
        await conn.close()


async def test_backup_then_restore_brings_the_data_back(
    postgres_server: PostgresServer, schemas: tuple[str, str], tmp_path: Path
) -> None:
    where = connection(postgres_server, schemas)
    dump = tmp_path / "backup.sql"
    message = backup.backup(dump, **where)
    assert message.startswith(f"backed up schemas {schemas[0]}, {schemas[1]} to {dump}")
    assert not dump.with_name("backup.sql.partial").exists()

    conn = await asyncpg.connect(postgres_server.dsn())
    await conn.execute(f"INSERT INTO {schemas[0]}.t VALUES ('later')")
    await conn.close()
    assert backup.restore(dump, **where) == f"restored schemas {', '.join(schemas)} from {dump}"
    assert await values(postgres_server, schemas[0]) == [schemas[0]]


async def test_a_broken_backup_leaves_the_database_unchanged(
    postgres_server: PostgresServer, schemas: tuple[str, str], tmp_path: Path
) -> None:
    where = connection(postgres_server, schemas)
    broken = tmp_path / "broken.sql"
    broken.write_text(f"DELETE FROM {schemas[0]}.t;\nTHIS IS NOT SQL;\n")
    with pytest.raises(DriverError, match="restore failed, database unchanged"):
        backup.restore(broken, **where)
    assert await values(postgres_server, schemas[0]) == [schemas[0]]
    with pytest.raises(DriverError, match="no backup file at"):
        backup.restore(tmp_path / "missing.sql", **where)


def test_a_failed_dump_leaves_no_file(tmp_path: Path, postgres_server: PostgresServer) -> None:
    dump = tmp_path / "backup.sql"
    with pytest.raises(DriverError, match="pg_dump failed"):
        backup.backup(dump, host=postgres_server.host, port=postgres_server.port,
                      password="wrong", schemas=("nothing",))  # fmt: skip
    assert not dump.exists() and not dump.with_name("backup.sql.partial").exists()
