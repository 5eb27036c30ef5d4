"""The compose file: the checked-in one is the render of the default topology, and says what
the model says (networks, addresses, wiring, limits), in keys both compose versions honour."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import pytest
import yaml

from shopnet.errors import ConfigError
from shopnet.topology import default_topology
from shopnet.topology.model import Kind
from shopnet_docker import names, wheelhouse
from shopnet_docker.compose import render

COMPOSE_FILE = Path(__file__).parents[2] / "containers" / "compose.yaml"
LOCK_FILE = Path(__file__).parents[2] / "containers" / "requirements.lock"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def test_checked_in_file_is_the_render_of_the_default_topology() -> None:
    assert COMPOSE_FILE.read_text() == render(default_topology()), (
        "containers/compose.yaml is out of date: python -m shopnet_docker compose --write"
    )


def test_networks_are_the_tiers(compose: dict[str, Any]) -> None:
    networks = compose["networks"]
    assert list(networks) == ["frontend", "backend", "database"]
    expected = {
        "frontend": ("172.20.0.0/24", "172.20.0.128/25", "172.20.0.1", False),
        # Internal but for the gateway's public leg: product and order have no way out.
        "backend": ("172.21.0.0/24", "172.21.0.128/25", "172.21.0.1", True),
        "database": ("172.22.0.0/24", "172.22.0.128/25", "172.22.0.1", True),
    }
    for position, (name, (subnet, ip_range, gateway, internal)) in enumerate(
        expected.items(), start=1
    ):
        network = networks[name]
        assert network["ipam"]["config"] == [
            {"subnet": subnet, "ip_range": ip_range, "gateway": gateway}
        ]
        assert network.get("internal", False) is internal
        bridge = network["driver_opts"]["com.docker.network.bridge.name"]
        assert bridge == f"snd-{name}"
        assert len(bridge) <= 15
        # Named in tier order: Docker routes a multi-homed container through the first.
        assert network["name"] == f"shopnet_{position}_{name}"
        assert network["labels"] == {"io.shopnet.stack": "shopnet", "io.shopnet.tier": name}
    # ... and those are the model's facts.
    for tier in default_topology().tiers:
        config = networks[tier.name]["ipam"]["config"][0]
        assert IPv4Network(config["subnet"]) == tier.subnet
        assert IPv4Network(config["ip_range"]) == tier.dynamic_range
        assert networks[tier.name].get("internal", False) is (tier.name != "frontend")


def test_each_service_is_on_the_networks_of_its_flows(compose: dict[str, Any]) -> None:
    attached = {name: set(spec["networks"]) for name, spec in compose["services"].items()}
    assert attached == {
        "gateway": {"frontend", "backend"},
        "registry": {"backend"},
        "product": {"backend", "database"},
        "order": {"backend", "database"},
        "postgres": {"database"},
        "redis": {"database"},
    }
    topology = default_topology()
    assert attached == {s.name: set(topology.networks_of(s.name)) for s in topology.services}


def test_static_addresses_for_services_that_do_not_scale(compose: dict[str, Any]) -> None:
    topology = default_topology()
    static = {
        (name, tier): attachment["ipv4_address"]
        for name, spec in compose["services"].items()
        for tier, attachment in spec["networks"].items()
        if attachment and "ipv4_address" in attachment
    }
    assert static == {
        ("gateway", "frontend"): "172.20.0.10",
        ("registry", "backend"): "172.21.0.10",
        ("postgres", "database"): "172.22.0.10",
        ("redis", "database"): "172.22.0.11",
    }
    for (name, tier), address in static.items():
        model = next(i for i in topology.plan() if i.service.name == name)
        assert IPv4Address(address) == model.address
        assert IPv4Address(address) not in topology.tier(tier).dynamic_range
    for scaled in ("product", "order"):
        assert all(not a for a in compose["services"][scaled]["networks"].values())


def test_environment_names_dependencies_by_dns(compose: dict[str, Any]) -> None:
    services = compose["services"]

    def token(service: str) -> dict[str, str]:  # a path, not a value; each service its own
        return {"SHOPNET_REGISTRY_TOKEN_FILE": f"/run/secrets/{service}_registry_token"}

    # Each service logs in as its own role and Redis user; every secret is a mounted file.
    assert services["product"]["environment"] == {
        "SERVICE_REGISTRY": "http://registry:8500",
        "DATABASE_URL": "postgresql://product_app@postgres:5432/shopnet",
        "DATABASE_PASSWORD_FILE": "/run/secrets/product_postgres",
        "SHOPNET_DB_MIGRATION_ROLE": "products_owner",
        "REDIS_URL": "redis://product@redis:6379/0",
        "REDIS_PASSWORD_FILE": "/run/secrets/product_redis",
        "SHOPNET_INTERNAL_CALLERS_FILE": "/run/secrets/product_internal_callers",
        "SHOPNET_PORT": "3001",
        **token("product"),
    }
    assert services["order"]["environment"] == {
        "SERVICE_REGISTRY": "http://registry:8500",
        "DATABASE_URL": "postgresql://order_app@postgres:5432/shopnet",
        "DATABASE_PASSWORD_FILE": "/run/secrets/order_postgres",
        "SHOPNET_DB_MIGRATION_ROLE": "orders_owner",
        "SHOPNET_INTERNAL_TOKEN_FILE": "/run/secrets/order_internal_token",
        "SHOPNET_PORT": "3002",
        **token("order"),
    }
    # The gateway gets no database credentials: it may only call the backend tier.
    assert services["gateway"]["environment"] == {
        "SERVICE_REGISTRY": "http://registry:8500",
        "SHOPNET_ADMIN_PORT": "9080",  # /ready and /metrics, never published
        "SHOPNET_PORT": "3000",
        "SHOPNET_GATEWAY_TOKEN_KEY_FILE": "/run/secrets/gateway_token_key",
        # The routes of the services it may call, from their specs (shopnet.spec).
        "SHOPNET_GATEWAY_ROUTES": "/api/products=product:/products:public-reads,/api/orders=order:/orders",
        **token("gateway"),
    }
    assert services["registry"]["environment"] == {
        "SHOPNET_PORT": "8500",
        "SHOPNET_REGISTRY_ALLOWED_SUBNETS": (
            "gateway=172.20.0.0/24,172.21.0.0/24;product=172.21.0.0/24;order=172.21.0.0/24"
        ),
        "SHOPNET_REGISTRY_TOKENS_FILE": "/run/secrets/registry_registry_tokens",
    }
    assert services["postgres"]["environment"] == {
        "POSTGRES_USER": "shopnet",
        "POSTGRES_DB": "shopnet",
        "POSTGRES_PASSWORD_FILE": "/run/secrets/postgres_password",
    }
    # No password anywhere in the file: only paths.
    assert "PASSWORD:" not in COMPOSE_FILE.read_text().replace("PASSWORD_FILE:", "")
    # Left to auto-detection: the address towards the registry.
    assert not any(
        "SHOPNET_ADVERTISE_ADDRESS" in spec.get("environment", {}) for spec in services.values()
    )


def test_only_the_gateway_is_published_on_8080_and_3000(compose: dict[str, Any]) -> None:
    published = {
        name: spec["ports"] for name, spec in compose["services"].items() if "ports" in spec
    }
    assert published == {
        "gateway": ["${SHOPNET_PUBLISHED_PORT:-8080}:3000", "${SHOPNET_COMPAT_PORT:-3000}:3000"]
    }


def test_health_restart_limits_and_dependencies_come_from_the_model(
    compose: dict[str, Any],
) -> None:
    topology = default_topology()
    for service in topology.services:
        spec = compose["services"][service.name]
        assert spec["healthcheck"]["test"][0] == (
            "CMD-SHELL" if service.name == "postgres" else "CMD"
        )
        assert spec["healthcheck"]["interval"] == "${SHOPNET_HEALTH_INTERVAL:-5s}"
        assert spec["restart"] == "unless-stopped"
        assert spec["cpus"] == service.cpus
        assert spec["mem_limit"] == f"{service.memory_mb}m"
        assert spec["pids_limit"] == (512 if service.kind is Kind.DATASTORE else 128)
        assert spec.get("depends_on", {}) == {
            dep: {"condition": "service_healthy"} for dep in service.depends_on
        }
        assert spec["labels"][names.LABEL_STACK] == "shopnet"
        assert spec["labels"][names.LABEL_SERVICE] == service.name
        if service.kind is Kind.APP:
            assert spec["command"] == ["serve", service.name]
            assert spec["image"] == f"${{SHOPNET_IMAGE:-{names.SERVICE_IMAGE}}}"
            assert spec["stop_signal"] == "SIGTERM"
            # Our services write nothing and need no privilege.
            assert spec["read_only"] is True
            assert spec["cap_drop"] == ["ALL"]
    assert compose["services"]["postgres"]["volumes"] == ["pgdata:/var/lib/postgresql/data"]
    assert (
        compose["services"]["postgres"]["image"]
        == "${SHOPNET_POSTGRES_IMAGE:-postgres:15-bookworm}"
    )
    assert compose["services"]["redis"]["image"] == "${SHOPNET_REDIS_IMAGE:-redis:7-bookworm}"
    assert list(compose["volumes"]) == ["pgdata"]


def test_every_secret_is_a_file_mounted_only_where_it_is_needed(compose: dict[str, Any]) -> None:
    folder = "${SHOPNET_SECRETS_DIR:-./secrets}"
    assert compose["secrets"] == {
        "postgres_password": {"file": f"{folder}/postgres/password"},
        "postgres_roles_sql": {"file": f"{folder}/postgres/roles.sql"},
        "redis_users_acl": {"file": f"{folder}/redis/users.acl"},
        "product_postgres": {"file": f"{folder}/product/postgres"},
        "product_redis": {"file": f"{folder}/product/redis"},
        "product_internal_callers": {"file": f"{folder}/product/internal-callers"},
        "order_postgres": {"file": f"{folder}/order/postgres"},
        "order_internal_token": {"file": f"{folder}/order/internal-token"},
        "gateway_token_key": {"file": f"{folder}/gateway/token-key"},
        **{
            f"{s}_registry_token": {"file": f"{folder}/{s}/registry-token"}
            for s in ("product", "order", "gateway")
        },
        "registry_registry_tokens": {"file": f"{folder}/registry/registry-tokens"},
    }
    assert {name: spec["secrets"] for name, spec in compose["services"].items()} == {
        "postgres": ["postgres_password", "postgres_roles_sql"],
        "redis": ["redis_users_acl"],
        "registry": ["registry_registry_tokens"],
        "product": [
            "product_registry_token",
            "product_postgres",
            "product_redis",
            "product_internal_callers",
        ],
        "order": ["order_registry_token", "order_postgres", "order_internal_token"],
        "gateway": ["gateway_registry_token", "gateway_token_key"],
    }
    redis = compose["services"]["redis"]["command"]
    assert redis[redis.index("--aclfile") + 1] == "/run/secrets/redis_users_acl"
    assert "--protected-mode" not in redis  # the ACL file's `user default off` instead
    # The roles are applied before PostgreSQL first counts as healthy (services wait for it).
    check = compose["services"]["postgres"]["healthcheck"]["test"][1]
    assert check.startswith("pg_isready ") and "-f /run/secrets/postgres_roles_sql" in check


def test_only_keys_both_compose_versions_honour(compose: dict[str, Any]) -> None:
    # 1.29 rejects a top-level `name`; `version` is obsolete in v2; 1.29 ignores `deploy`.
    # File-based `secrets` are bind mounts in both (1.29 ignores their uid/gid/mode).
    assert set(compose) == {"services", "networks", "volumes", "secrets"}
    assert not any("deploy" in spec for spec in compose["services"].values())


@pytest.mark.docker
def test_docker_compose_accepts_the_file() -> None:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is not installed (apt-get install docker-compose)"
    out = subprocess.run(
        [binary, "-f", str(COMPOSE_FILE), "-p", "shopnet", "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr


def test_renderer_refuses_what_compose_or_linux_cannot_take() -> None:
    topology = default_topology()
    with pytest.raises(ConfigError, match="lowercase"):
        render(dataclasses.replace(topology, prefix="Shop_Net"))
    long_tier = dataclasses.replace(topology.tiers[2], name="persistence")
    with pytest.raises(ConfigError, match="longer than 15"):
        render(
            dataclasses.replace(
                topology,
                prefix="shopnetx",
                tiers=(*topology.tiers[:2], long_tier),
                services=tuple(
                    dataclasses.replace(s, tier="persistence") if s.tier == "database" else s
                    for s in topology.services
                ),
            )
        )
    # Listed first, backend would become the gateway's route (and published-port path).
    reordered = (topology.tiers[1], topology.tiers[0], topology.tiers[2])
    with pytest.raises(ConfigError, match="gateway would be routed through tier backend"):
        render(dataclasses.replace(topology, tiers=reordered))


def test_wheelhouse_downloads_every_locked_wheel_whatever_the_markers() -> None:
    lock = LOCK_FILE.read_text()
    stripped = wheelhouse.strip_markers(lock)
    pins = [line.split()[0] for line in lock.splitlines() if "==" in line and line[0] != " "]
    assert "async-timeout==5.0.1" in pins  # needed by Debian's python3 3.11.2
    assert [line.split()[0] for line in stripped.splitlines() if "==" in line] == pins
    assert not any(";" in line for line in stripped.splitlines() if "==" in line)
    # Hash lines are untouched.
    assert [line for line in lock.splitlines() if "--hash" in line] == [
        line for line in stripped.splitlines() if "--hash" in line
    ]


def test_wheel_platforms_cover_bookworm_glibc() -> None:
    x86 = wheelhouse.platforms("x86_64")
    assert {"manylinux_2_36_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"} <= set(x86)
    assert "manylinux1_x86_64" in x86
    arm = wheelhouse.platforms("arm64")
    assert "manylinux_2_28_aarch64" in arm
    assert not any("manylinux1" in tag for tag in arm)
