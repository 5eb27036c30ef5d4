"""Datastores as data: what each is, who uses which part of it, and the wiring that follows."""

from __future__ import annotations

from typing import Any

import pytest

from shopnet.errors import ConfigError
from shopnet.topology import default_topology
from shopnet.topology.load import parse
from shopnet.topology.model import Durability, Engine, StoreUse
from shopnet.topology.wiring import service_environment


def test_the_default_datastores_and_their_users() -> None:
    t = default_topology()
    assert [
        (s.name, s.engine(), s.datastore.durability) for s in t.datastores() if s.datastore
    ] == [
        ("postgres", Engine.POSTGRES, Durability.DURABLE),
        ("redis", Engine.REDIS, Durability.CACHE),
    ]
    assert [(s.name, u.schema) for s, u in t.users_of("postgres")] == [
        ("product", "products"),
        ("order", "orders"),
    ]
    assert [(s.name, u.db, u.key_prefix) for s, u in t.users_of("redis")] == [
        ("product", 0, "shopnet:product")
    ]


def test_wiring_follows_the_uses() -> None:
    t = default_topology()
    env = service_environment(
        t, t.service("product"), endpoint=lambda s: f"{s}.test:1", db_password="pw"
    )
    assert env == {
        "SERVICE_REGISTRY": "http://registry.test:1",
        "DATABASE_URL": "postgresql://shopnet:pw@postgres.test:1/shopnet",
        "REDIS_URL": "redis://redis.test:1/0",
    }
    order = service_environment(t, t.service("order"), endpoint=lambda s: s, db_password="pw")
    assert "REDIS_URL" not in order and "DATABASE_URL" in order
    assert service_environment(t, t.service("redis"), endpoint=str, db_password="pw") == {}


def topology(uses: list[dict[str, Any]], *, flows: bool = True, cache: str = "cache") -> dict:
    return {
        "tiers": {"t": {"bridge": "br-t", "subnet": "10.253.0.0/24"}},
        "services": {
            "a": {"tier": "t", "host": 10, "port": 1000, "uses": uses},
            "b": {"tier": "t", "host": 11, "port": 1001,
                  "uses": [{"datastore": "kv", "db": 1, "key_prefix": "b:"}]},
            "db": {"kind": "datastore", "engine": "postgres", "durability": "durable",
                   "tier": "t", "host": 20, "port": 5432},
            "kv": {"kind": "datastore", "engine": "redis", "durability": cache,
                   "tier": "t", "host": 21, "port": 6379},
        },
        "flows": [{"from": "a", "to": "db"}, {"from": "a", "to": "kv"}, {"from": "b", "to": "kv"}]
        if flows else [{"from": "b", "to": "kv"}],
    }  # fmt: skip


def test_a_redis_database_number_reaches_the_url() -> None:
    t = parse(topology([{"datastore": "kv", "db": 2, "key_prefix": "a:"}]), source="t")
    assert t.service("a").uses == (StoreUse("kv", db=2, key_prefix="a:"),)
    env = service_environment(t, t.service("a"), endpoint=lambda s: s, db_password="pw")
    assert env == {"REDIS_URL": "redis://kv/2"}


@pytest.mark.parametrize(
    ("uses", "kwargs", "message"),
    [
        ([{"datastore": "nope"}], {}, "uses 'nope': no such service"),
        ([{"datastore": "b"}], {}, "uses 'b': not a datastore"),
        ([{"datastore": "db", "schema": "x"}], {"flows": False}, "no flow allows a → db"),
        ([{"datastore": "db"}], {}, "a PostgreSQL use needs its schema"),
        ([{"datastore": "kv", "db": 16, "key_prefix": "a:"}], {}, "Redis database 16"),
        ([{"datastore": "kv"}], {}, "a cache use needs its key_prefix"),
        (
            [{"datastore": "kv", "db": 1, "key_prefix": "b:x"}],
            {},
            "services a and b both own the keys 'b:'… of kv database 1",
        ),
    ],
)
def test_uses_that_cannot_work_are_refused(
    uses: list[dict[str, Any]], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(topology(uses, **kwargs), source="t")


def test_a_datastore_says_what_it_is() -> None:
    data = topology([])
    del data["services"]["kv"]["engine"]
    with pytest.raises(ConfigError, match="malformed topology"):
        parse(data, source="t")
    data = topology([], cache="forever")
    with pytest.raises(ConfigError, match="malformed topology"):
        parse(data, source="t")
