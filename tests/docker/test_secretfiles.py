"""The docker stack's secret files as `up` writes them (no engine needed)."""

from __future__ import annotations

import os
from pathlib import Path

from shopnet.runtime.secrets import SecretStore
from shopnet.runtime.users import User
from shopnet.topology import default_topology
from shopnet.topology.model import Kind, Service
from shopnet_docker.secretfiles import write


def written(tmp_path: Path) -> tuple[SecretStore, dict[str, str]]:
    store = SecretStore(tmp_path / "secrets")
    me = User("me", os.geteuid(), os.getegid())
    write(store, default_topology(), superuser_password="super-secret-1", user_of=lambda s: me)
    files = {
        str(p.relative_to(store.dir)): p.read_text() for p in store.dir.rglob("*") if p.is_file()
    }
    return store, files


def test_each_service_gets_its_own_and_the_datastores_only_hashes(tmp_path: Path) -> None:
    store, files = written(tmp_path)
    assert set(files) == {
        "postgres/password", "postgres/roles.sql", "redis/users.acl",
        "product/postgres", "product/redis", "product/internal-callers",
        "order/postgres", "order/internal-token",
        "runtime/redis-admin",
        "gateway/token-key", "runtime/token-key",
        "product/registry-token", "order/registry-token", "gateway/registry-token",
        "registry/registry-tokens",
    }  # fmt: skip
    # Each service its own registry token; the registry only their digests, each bound.
    apps = ("product", "order", "gateway")
    assert len({files[f"{s}/registry-token"] for s in apps}) == 3
    bindings = files["registry/registry-tokens"]
    bound = [line.split()[0] for line in bindings.splitlines() if not line.startswith("#")]
    assert sorted(bound) == sorted(apps)
    assert not any(files[f"{s}/registry-token"].strip() in bindings for s in apps)
    assert files["gateway/token-key"] == files["runtime/token-key"]
    assert len(bytes.fromhex(files["gateway/token-key"].strip())) == 32
    assert files["postgres/password"].strip() == "super-secret-1"
    # The internal token is order's own; product knows only its digest, bound to "order".
    callers = [line for line in files["product/internal-callers"].splitlines() if line[0] != "#"]
    assert [line.split()[0] for line in callers] == ["order"]
    assert files["order/internal-token"].strip() not in files["product/internal-callers"]
    assert files["product/postgres"] != files["order/postgres"]
    for secret in ("product/postgres", "order/postgres", "product/redis", "runtime/redis-admin"):
        password = files[secret].strip()
        assert len(password) >= 24
        assert password not in files["postgres/roles.sql"] + files["redis/users.acl"]
    assert "CREATE ROLE product_app" in files["postgres/roles.sql"]
    assert "CREATE ROLE order_app" in files["postgres/roles.sql"]
    assert files["redis/users.acl"].startswith("user default off")
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in store.dir.rglob("*") if p.is_file())
    assert all(p.stat().st_mode & 0o777 == 0o700 for p in store.dir.iterdir())


def test_passwords_are_kept_and_owners_follow_the_containers_users(tmp_path: Path) -> None:
    _, first = written(tmp_path)
    store, again = written(tmp_path)
    assert {k: v for k, v in again.items() if "roles" not in k} == {
        k: v for k, v in first.items() if "roles" not in k
    }
    if os.geteuid() != 0:
        return
    users = {"postgres": User("postgres", 999, 998), "redis": User("redis", 997, 996)}

    def user_of(service: Service) -> User:
        return User("shopnet", 10001, 10001) if service.kind is Kind.APP else users[service.name]

    write(store, default_topology(), superuser_password="super-secret-1", user_of=user_of)
    owner = {p.parent.name: (p.stat().st_uid, p.stat().st_gid) for p in store.dir.rglob("*.*")}
    assert owner == {"postgres": (999, 998), "redis": (997, 996)}
    assert (store.dir / "product" / "redis").stat().st_uid == 10001
    assert (store.dir / "product").stat().st_uid == 0  # the engine, as root, mounts the file
    assert (store.dir / "runtime" / "redis-admin").stat().st_uid == 0
