"""The compose file, rendered from the topology model (containers/compose.yaml is its output).

Everything in it derives from shopnet.topology, so compose, the netns mode and the
isolation tests cannot disagree:

- one network per tier: its subnet, `ip_range` = the tier's upper half (replicas
  of scaled services take addresses there, never a static one), the database
  tier `internal` (no route out), a fixed bridge name (`snd-<tier>`), and a
  Docker name that starts with the tier's position (`shopnet_1_frontend`): Docker
  20.10 gives a container on several networks its default route, and DNATs its
  published ports, through the network whose *name sorts first* (libnetwork's
  gateway endpoint; Engine 28's `gw_priority` is not available to 1.29), so the
  gateway is reached and routed through the frontend tier, as the model says;
- each service attached to `topology.networks_of(service)`, with the model's
  static address in its home tier unless it scales;
- environment from shopnet.topology.wiring, with compose DNS names as endpoints
  (SERVICE_REGISTRY=http://registry:8500 …); SHOPNET_ADVERTISE_ADDRESS is left
  to auto-detection: the source address towards the registry (backend network);
- `depends_on` from the model, gated on health; health checks, restart policy,
  CPU and memory limits on every service.

Only keys that docker-compose 1.29 and `docker compose` v2 both honour: no
top-level `name` (1.29 rejects it; the project comes from `-p`), and `cpus` /
`mem_limit` rather than `deploy.resources` (1.29 ignores `deploy` unless run with
--compatibility).
"""

from __future__ import annotations

from typing import Any

import yaml

from shopnet.errors import ConfigError
from shopnet.runtime.datastores import redis_cache_args
from shopnet.topology.model import WORLD, Kind, Service, Topology
from shopnet.topology.wiring import DB_NAME, DB_USER, service_environment
from shopnet_docker import names
from shopnet_docker.hardening import harden

DEFAULT_HEALTH_INTERVAL = "5s"
"""Docker 20.10 runs the first check one interval after start (no `start_interval` yet), so
the interval sets how fast health-gated start-up goes; each check is a `docker exec`, which
costs the daemons CPU: measured on 2 cores with 6 containers idle, 2 s ≈ 14 % of a core,
5 s ≈ 6 %. Benchmarks can set SHOPNET_HEALTH_INTERVAL=30s."""
HEALTH_TIMING = {
    "interval": f"${{{names.VAR_HEALTH_INTERVAL}:-{DEFAULT_HEALTH_INTERVAL}}}",
    "timeout": "3s",
    "retries": 5,
    "start_period": "60s",
}
APP_STOP_GRACE = "15s"
"""Above the services' drain time (SHOPNET_DRAIN_SECONDS, 10 s) plus deregistration."""
POSTGRES_MAX_CONNECTIONS = 200
"""As in the other modes: every scaled instance's pool must fit."""
LOGGING = {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}}

HEADER = """\
# GENERATED from the topology model (services/shopnet/topology/default.toml) by
#   python -m shopnet_docker compose --write
# Do not edit by hand: change the topology and regenerate; a test checks they agree.
#
# Run it (docker compose v2; docker-compose 1.29 takes the same arguments):
#   docker compose -f containers/compose.yaml -p {project} up -d --scale product=3
# `shopnet up --mode docker` does the same with images built offline, and waits until
# every instance is healthy and registered.
#
# Variables (defaults in brackets):
#   SHOPNET_IMAGE           [{service_image}] registry, product, order, gateway
#   SHOPNET_BASE_IMAGE      [{python_base}] base of that image when compose builds it
#   SHOPNET_REDIS_IMAGE     [{redis}] (offline: {offline_redis})
#   SHOPNET_POSTGRES_IMAGE  [{postgres}] (offline: {offline_postgres})
#   SHOPNET_DB_PASSWORD     [{db_password}] used when the database volume is first created
#   SHOPNET_PUBLISHED_PORT  [{published}] host port of the gateway
#   SHOPNET_COMPAT_PORT     [{compat}] second host port of the gateway (what the original setup used)
#   SHOPNET_HEALTH_INTERVAL [{health}] between health checks (each is a `docker exec`: 30s for benchmarks)
"""


def var(name: str, default: object) -> str:
    """A compose variable with its default: `${NAME:-default}`."""
    return f"${{{name}:-{default}}}"


def render(topology: Topology, *, build_context: str = "..") -> str:
    """The compose file for `topology`; `build_context` is the repository root, seen from it."""
    project = names.project(topology.prefix)
    gateway = _published_service(topology)
    header = HEADER.format(
        project=project,
        service_image=names.SERVICE_IMAGE,
        python_base=names.OFFICIAL_PYTHON_BASE,
        redis=names.OFFICIAL.redis,
        postgres=names.OFFICIAL.postgres,
        offline_redis=names.OFFLINE.redis,
        offline_postgres=names.OFFLINE.postgres,
        db_password=names.DEFAULT_DB_PASSWORD,
        published=topology.published_port,
        compat=gateway.port,
        health=DEFAULT_HEALTH_INTERVAL,
    )
    body = yaml.dump(
        compose_model(topology, build_context=build_context),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        width=100,
    )
    # A blank line between top-level sections and between services, for the reader.
    spaced: list[str] = []
    for line in body.splitlines():
        top_level = not line.startswith(" ")
        entry = line.startswith("  ") and line[2] != " "
        if spaced and (top_level or (entry and spaced[-1].startswith(" "))):
            spaced.append("")
        spaced.append(line)
    return header + "\n" + "\n".join(spaced) + "\n"


class _Dumper(yaml.SafeDumper):
    """Plain YAML for people: no anchors, short lists of scalars on one line."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(isinstance(item, str | int | float) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)

# Keys of a service in the order a reader looks for them.
_KEY_ORDER = (
    "image", "build", "user", "command", "environment", "ports", "volumes", "networks", "depends_on",
    "healthcheck", "restart", "init", "read_only", "tmpfs", "cap_drop", "security_opt",
    "stop_signal", "stop_grace_period", "cpus", "mem_limit", "labels", "logging",
)  # fmt: skip


def compose_model(topology: Topology, *, build_context: str = "..") -> dict[str, Any]:
    """The compose file as data (what `render` writes)."""
    project = names.project(topology.prefix)
    services = {
        service.name: _service(topology, service, project=project, build_context=build_context)
        for service in topology.start_order()
    }
    _check_gateway_networks(topology)
    networks = {
        tier.name: _network(topology, tier.name, project, position)
        for position, tier in enumerate(topology.tiers, start=1)
    }
    volumes = {
        names.DB_VOLUME: {"labels": {names.LABEL_STACK: project, names.LABEL_SERVICE: "postgres"}}
    }
    return {"services": services, "networks": networks, "volumes": volumes}


def _published_service(topology: Topology) -> Service:
    targets = [f.target for f in topology.flows if f.source == WORLD]
    if len(targets) != 1:
        raise ConfigError(
            f"docker mode publishes exactly one service to the world; the topology has "
            f"{len(targets)} ({', '.join(targets) or 'none'})"
        )
    return topology.service(targets[0])


def network_name(project: str, position: int, tier: str) -> str:
    """Docker's name of a tier network: ordered like the topology's tiers (see above)."""
    return f"{project}_{position}_{tier}"


def _check_gateway_networks(topology: Topology) -> None:
    """Every service's home tier must be the first of its routable networks (see above)."""
    position = {tier.name: i for i, tier in enumerate(topology.tiers)}
    for service in topology.services:
        routable = [
            name for name in topology.networks_of(service.name) if not topology.tier(name).internal
        ]
        if routable and min(routable, key=position.__getitem__) != service.tier:
            raise ConfigError(
                f"docker mode: {service.name} would be routed through tier "
                f"{min(routable, key=position.__getitem__)} instead of its own ({service.tier}); "
                f"list tier {service.tier} earlier in the topology"
            )


def _network(topology: Topology, tier_name: str, project: str, position: int) -> dict[str, Any]:
    tier = topology.tier(tier_name)
    network: dict[str, Any] = {
        "name": network_name(project, position, tier.name),
        "driver": "bridge",
        "driver_opts": {"com.docker.network.bridge.name": names.bridge(project, tier.name)},
        "ipam": {
            "config": [
                {
                    "subnet": str(tier.subnet),
                    "ip_range": str(tier.dynamic_range),
                    "gateway": str(tier.host_address),
                }
            ]
        },
    }
    if tier.internal:
        network["internal"] = True
    network["labels"] = {names.LABEL_STACK: project, names.LABEL_TIER: tier.name}
    return network


def _service(
    topology: Topology, service: Service, *, project: str, build_context: str
) -> dict[str, Any]:
    if service.kind is Kind.APP:
        spec = _app(topology, service, build_context=build_context)
    elif service.name == "postgres":
        spec = _postgres(service)
    elif service.name == "redis":
        spec = _redis(service)
    else:
        raise ConfigError(f"docker mode has no image for datastore {service.name!r}")
    spec["init"] = True  # a real PID 1: forwards the stop signal, reaps orphans
    spec["networks"] = _attachments(topology, service)
    if service.depends_on:
        spec["depends_on"] = {dep: {"condition": "service_healthy"} for dep in service.depends_on}
    spec["restart"] = "unless-stopped"
    spec["cpus"] = service.cpus
    spec["mem_limit"] = f"{service.memory_mb}m"
    spec["labels"] = {
        names.LABEL_STACK: project,
        names.LABEL_SERVICE: service.name,
        names.LABEL_TIER: service.tier,
    }
    spec["logging"] = LOGGING
    harden(service, spec)
    return {key: spec[key] for key in sorted(spec, key=_KEY_ORDER.index)}


def _attachments(topology: Topology, service: Service) -> dict[str, dict[str, str]]:
    """Networks of a service; a fixed address in its home tier unless it scales."""
    attached: dict[str, dict[str, str]] = {}
    for tier_name in topology.networks_of(service.name):
        if tier_name == service.tier and not service.scalable:
            tier = topology.tier(tier_name)
            address = tier.subnet.network_address + service.host
            attached[tier_name] = {"ipv4_address": str(address)}
        else:
            attached[tier_name] = {}
    return attached


def _app(topology: Topology, service: Service, *, build_context: str) -> dict[str, Any]:
    env = service_environment(
        topology,
        service,
        endpoint=lambda name: f"{name}:{topology.service(name).port}",
        db_password=var(names.VAR_DB_PASSWORD, names.DEFAULT_DB_PASSWORD),
    )
    env["SHOPNET_PORT"] = str(service.port)
    spec: dict[str, Any] = {
        "image": var(names.VAR_IMAGE, names.SERVICE_IMAGE),
        "build": {
            "context": build_context,
            "dockerfile": "containers/Dockerfile",
            "args": {"BASE_IMAGE": var(names.VAR_BASE_IMAGE, names.OFFICIAL_PYTHON_BASE)},
        },
        "command": ["serve", service.name],
        "environment": env,
    }
    if service.name == _published_service(topology).name:
        spec["ports"] = [
            f"{var(names.VAR_PUBLISHED_PORT, topology.published_port)}:{service.port}",
            f"{var(names.VAR_COMPAT_PORT, service.port)}:{service.port}",
        ]
    spec["healthcheck"] = {
        "test": ["CMD", "python3", "-I", "-S", "/opt/shopnet/healthcheck.py"],
        **HEALTH_TIMING,
    }
    # Our services write nothing but logs (to stdout) and need no privilege.
    spec["read_only"] = True
    spec["tmpfs"] = ["/tmp"]
    spec["cap_drop"] = ["ALL"]
    spec["security_opt"] = ["no-new-privileges:true"]
    spec["stop_signal"] = "SIGTERM"  # deregister, then drain in-flight requests
    spec["stop_grace_period"] = APP_STOP_GRACE
    return spec


def _postgres(service: Service) -> dict[str, Any]:
    return {
        "image": var(names.VAR_POSTGRES_IMAGE, names.OFFICIAL.postgres),
        "command": [
            *("postgres", "-c", f"max_connections={POSTGRES_MAX_CONNECTIONS}"),
            # The root fs is read-only (hardening.py): the socket goes to the /tmp tmpfs.
            *("-c", "unix_socket_directories=/tmp"),
        ],
        "environment": {
            "POSTGRES_USER": DB_USER,
            "POSTGRES_DB": DB_NAME,
            "POSTGRES_PASSWORD": var(names.VAR_DB_PASSWORD, names.DEFAULT_DB_PASSWORD),
        },
        "volumes": [f"{names.DB_VOLUME}:/var/lib/postgresql/data"],
        # Over TCP: while the image initialises the cluster its server listens on no port,
        # so a socket check would pass too early.
        "healthcheck": {
            "test": ["CMD", "pg_isready", "-q", "-h", "127.0.0.1", "-U", DB_USER, "-d", DB_NAME],
            **HEALTH_TIMING,
        },
        "stop_signal": "SIGINT",  # fast shutdown; SIGTERM would wait for clients to leave
        "stop_grace_period": "30s",
    }


def _redis(service: Service) -> dict[str, Any]:
    # A cache: nothing on disk, least-recently-used eviction under three quarters of the
    # container's memory (the rest is Redis's own overhead).
    return {
        "image": var(names.VAR_REDIS_IMAGE, names.OFFICIAL.redis),
        "command": ["redis-server", *redis_cache_args(service.memory_mb * 3 // 4)],
        "healthcheck": {"test": ["CMD", "redis-cli", "ping"], **HEALTH_TIMING},
        "stop_signal": "SIGTERM",
        "stop_grace_period": "10s",
    }
