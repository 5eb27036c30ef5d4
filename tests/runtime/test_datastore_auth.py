"""Real Redis and PostgreSQL under the stack's ACL file and roles: who may do what."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import asyncpg
import pytest
import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError, NoPermissionError, ResponseError

from shopnet.common import pg
from shopnet.errors import DriverError
from shopnet.product import scripts
from shopnet.product.cache import GENERATION, LIST_PREFIX
from shopnet.runtime import backup as pg_backup
from shopnet.runtime import datastore_auth, datastores, process, users
from shopnet.runtime.secrets import SecretStore
from shopnet.topology import default_topology
from tests.support.servers import free_port, scratch_dir

PRODUCT, CART, ADMIN = "product-secret-1", "cart-secret-1", "admin-secret-1"
PREFIXES = {**datastore_auth.redis_prefixes(default_topology(), "redis"), "cart": "t:cart:"}
"""The default topology's Redis users, and a second service's beside them."""


@pytest.fixture(scope="module")
def acl_redis() -> Iterator[str]:
    """A redis-server started as the stack starts it: with our ACL file only."""
    root = scratch_dir("shopnet-test-acl-")
    user = users.ensure("redis") if process.is_root() else None
    aclfile = SecretStore(root / "secrets").write(
        "redis",
        "users.acl",
        datastore_auth.redis_acl(
            PREFIXES, {"product": PRODUCT, "cart": CART}, admin_password=ADMIN
        ),
        user=user,
    )
    port = free_port()
    spec = datastores.redis_spec(
        "redis-acl",
        bind="127.0.0.1",
        port=port,
        data_dir=root / "data",
        log_path=root / "log",
        aclfile=aclfile,
    )
    process.spawn(spec, owner=str(root), pid_dir=root / "pids")
    datastores.wait_for_redis("127.0.0.1", port, auth=(datastore_auth.REDIS_ADMIN_USER, ADMIN))
    yield f"redis://127.0.0.1:{port}/0"
    process.stop_all(root / "pids", owner=str(root))
    shutil.rmtree(root, ignore_errors=True)


async def _client(url: str, user: str | None = None, password: str | None = None) -> aioredis.Redis:
    return aioredis.from_url(url, username=user, password=password)


async def test_redis_refuses_clients_without_credentials(acl_redis: str) -> None:
    client = await _client(acl_redis)
    with pytest.raises((AuthenticationError, ResponseError), match=r"(?i)auth"):
        await client.ping()
    await client.aclose()
    host, port = urlsplit(acl_redis).hostname, urlsplit(acl_redis).port
    assert host is not None and port is not None
    assert datastores.redis_command(host, port, "PING").startswith(b"-NOAUTH")
    assert datastores.redis_command(host, port, "PING", auth=("default", "")).startswith(b"-")


async def test_the_product_user_is_confined_to_its_keys(acl_redis: str) -> None:
    client = await _client(acl_redis, "product", PRODUCT)
    try:
        await client.set("shopnet:product:1", "x")
        assert await client.get("shopnet:product:1") == b"x"
        # The cache's own scripts, as the service runs them: a new generation needs TIME.
        await client.delete(GENERATION)
        assert await client.register_script(scripts.GET_LIST)(
            keys=[GENERATION], args=[LIST_PREFIX, "q"]
        )
        for forbidden in (
            client.set("shopnet:orders:1", "x"),
            client.get("order:1"),
            client.flushall(),
            client.config_get("dir"),
            client.keys("*"),
        ):
            with pytest.raises(NoPermissionError):
                await forbidden
    finally:
        await client.aclose()


async def test_each_service_user_is_confined_to_its_own_prefix(acl_redis: str) -> None:
    product = await _client(acl_redis, "product", PRODUCT)
    cart = await _client(acl_redis, "cart", CART)
    try:
        await cart.set("t:cart:1", "c")
        assert await cart.get("t:cart:1") == b"c"
        await product.set("shopnet:product:2", "p")
        for forbidden in (cart.get("shopnet:product:2"), product.get("t:cart:1")):
            with pytest.raises(NoPermissionError):
                await forbidden
    finally:
        await product.aclose()
        await cart.aclose()


async def test_the_admin_user_flushes_but_reads_nothing(acl_redis: str) -> None:
    client = await _client(acl_redis, datastore_auth.REDIS_ADMIN_USER, ADMIN)
    try:
        assert await client.ping()
        with pytest.raises(NoPermissionError):
            await client.get("shopnet:product:1")
        assert await client.flushall()
    finally:
        await client.aclose()


async def test_the_admin_user_flushes_the_product_prefix_as_restore_does(acl_redis: str) -> None:
    product = await _client(acl_redis, "product", PRODUCT)
    try:
        await product.set("shopnet:product:1", "x")
        await product.set("shopnet:products:list", "y")
        host, port = urlsplit(acl_redis).hostname, urlsplit(acl_redis).port
        assert host is not None and port is not None
        item = pg_backup.Flush("redis", "product", 0, "shopnet:product")
        with pytest.raises(DriverError):  # unauthenticated: refused
            pg_backup.flush(host, port, item)
        auth = (datastore_auth.REDIS_ADMIN_USER, ADMIN)
        assert pg_backup.flush(host, port, item, auth=auth) == 2
        assert await product.get("shopnet:product:1") is None
    finally:
        await product.aclose()


SCHEMAS = datastore_auth.schemas(default_topology())


@pytest.fixture
async def roles(database_url: str) -> AsyncIterator[dict[str, str]]:
    """The test database with the stack's roles; each service's DSN (its own login role)."""
    passwords = {"product": "pp-" + database_url[-12:], "order": "op-" + database_url[-12:]}
    database = urlsplit(database_url).path.lstrip("/")
    admin = await asyncpg.connect(database_url)
    try:
        for _ in range(2):  # idempotent: a second `up` runs it again
            await admin.execute(datastore_auth.roles_sql(SCHEMAS, passwords, database=database))
    finally:
        await admin.close()
    host = urlsplit(database_url).netloc.rsplit("@", 1)[1]
    yield {
        service: f"postgresql://{datastore_auth.login_role(service)}:{password}@{host}/{database}"
        for service, password in passwords.items()
    }


async def _migrated(dsn: str, service: str) -> asyncpg.Pool:
    pool = await pg.connect_pool(dsn, min_size=1, max_size=2, wait_seconds=5)
    await pg.migrate(
        pool,
        schema=SCHEMAS[service],
        package=f"shopnet.{service}",
        role=datastore_auth.owner_role(SCHEMAS[service]),
    )
    return pool


async def test_each_service_role_is_limited_to_its_schema(roles: dict[str, str]) -> None:
    product = await _migrated(roles["product"], "product")
    order = await _migrated(roles["order"], "order")
    try:
        # Its own data: yes.
        await product.execute(
            "INSERT INTO products (sku, name, price_cents, currency, stock) VALUES ('A-1', 'a', 1, 'EUR', 1)"
        )
        assert await order.fetchval("SELECT count(*) FROM orders.orders") == 0
        # The other's: no.
        with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
            await product.fetchval("SELECT count(*) FROM orders.orders")
        with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
            await order.execute("UPDATE products.products SET price_cents = 0")
        # Its own schema's structure: only through the owner, never as the login role.
        with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
            await product.execute("DROP TABLE products.products")
        assert not await product.fetchval(
            "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"
        )
        owner = await product.fetchval(
            "SELECT tableowner FROM pg_tables WHERE tablename = 'products'"
        )
        assert owner == "products_owner"
    finally:
        await product.close()
        await order.close()
