"""The compose file, rendered from the topology model (containers/compose.yaml is its output).

Everything in it derives from shopnet.topology, so compose, the netns mode and the
isolation tests cannot disagree:

- one network per tier: its subnet, `ip_range` = the tier's upper half (replicas
  of scaled services take addresses there, never a static one), every tier but
  the published service's home (the gateway's public leg, `frontend`) `internal`
  (`internal_network`): no route out, so the product and order containers reach
  neither the LAN, the internet nor a cloud metadata address; a fixed bridge name
  (`snd-<tier>`); and a
  Docker name that starts with the tier's position (`shopnet_1_frontend`): Docker
  20.10 gives a container on several networks its default route, and DNATs its
  published ports, through the network whose *name sorts first* (libnetwork's
  gateway endpoint; Engine 28's `gw_priority` is not available to 1.29), so the
  gateway is reached and routed through the frontend tier, as the model says;
- each service attached to `topology.networks_of(service)`, with the model's
  static address in its home tier unless it scales;
- environment from shopnet.topology.wiring, with compose DNS names as endpoints
  (SERVICE_REGISTRY=http://registry:8500 …); SHOPNET_ADVERTISE_ADDRESS is left
  to auto-detection: the source address towards the registry (backend network),
  which is also what the registry sees (no NAT between containers of a network);
- the stack's registry token as a compose secret (a file mounted at
  /run/secrets/registry_token, never an environment value), and each container's
  own credentials the same way (secretfiles.py): the services log in to PostgreSQL
  and Redis as their own least-privileged users, never as the superuser; the
  gateway's admin port (/ready, /metrics) is not published;
- `depends_on` from the model, gated on health; health checks, restart policy,
  CPU, memory and pids limits (`pids_limit`, shopnet.runtime.pids) on every service;
  Docker's default seccomp profile stays on (no `seccomp=unconfined` anywhere): with
  no capabilities it refuses unshare/clone with CLONE_NEW* and setns, as our own
  filter does in local and netns modes.

That is the `tiered` wiring (the default, and containers/compose.yaml). The
`single` wiring is the seed's layout: one network (the topology's
`single_network`, `app-network`) for every service, no static addresses, no
internal network (the datastores get a way out too), every service reaching
every other on any port. With `dns` discovery the gateway balances over what
each service's name resolves to in Docker's embedded DNS (one A record per
container) instead of watching the registry.

Only keys that docker-compose 1.29 and `docker compose` v2 both honour: no
top-level `name` (1.29 rejects it; the project comes from `-p`), and `cpus` /
`mem_limit` rather than `deploy.resources` (1.29 ignores `deploy` unless run with
--compatibility).
"""

from __future__ import annotations

from typing import Any

import yaml

from shopnet.errors import ConfigError
from shopnet.runtime import pids
from shopnet.runtime.datastores import redis_cache_args
from shopnet.topology.model import WORLD, Discovery, Engine, Kind, Service, Tier, Topology, Wiring
from shopnet.topology.wiring import DB_NAME, DB_USER, registry_environment, service_environment
from shopnet_docker import names, secretfiles
from shopnet_docker.hardening import harden
from shopnet_docker.secretfiles import DEFAULT_SECRETS_DIR, VAR_SECRETS_DIR

DEFAULT_HEALTH_INTERVAL = "5s"
"""Docker 20.10 runs the first check one interval after start (no `start_interval` yet), so
the interval sets how fast health-gated start-up goes; each check is a `docker exec`, which
costs the daemons CPU: measured on 2 cores with 6 containers idle, 2 s ≈ 14 % of a core,
5 s ≈ 6 %. This default is for `compose up` by hand; `shopnet up` runs the checks itself
while it starts a stack and sets 30 s (shopnet_docker.health)."""
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
#   SHOPNET_SECRETS_DIR     [{secrets_dir}] every secret, <service>/<name> (the secrets
#                           section below), 0600, owned by the user of the container that
#                           mounts it; `shopnet up` writes them to <state>/docker/data/secrets
#   SHOPNET_PUBLISHED_PORT  [{published}] host port of the gateway
#   SHOPNET_COMPAT_PORT     [{compat}] second host port of the gateway (what the original setup used)
#   SHOPNET_HEALTH_INTERVAL [{health}] between health checks (each is a `docker exec`: 30s for benchmarks)
"""


def var(name: str, default: object) -> str:
    """A compose variable with its default: `${NAME:-default}`."""
    return f"${{{name}:-{default}}}"


def render(
    topology: Topology,
    *,
    build_context: str = "..",
    wiring: Wiring | None = None,
    discovery: Discovery = Discovery.REGISTRY,
) -> str:
    """The compose file for `topology`; `build_context` is the repository root, seen from it."""
    project = names.project(topology.prefix)
    gateway = published_service(topology)
    header = HEADER.format(
        project=project,
        service_image=names.SERVICE_IMAGE,
        python_base=names.OFFICIAL_PYTHON_BASE,
        redis=names.OFFICIAL.redis,
        postgres=names.OFFICIAL.postgres,
        offline_redis=names.OFFLINE.redis,
        offline_postgres=names.OFFLINE.postgres,
        secrets_dir=DEFAULT_SECRETS_DIR,
        published=topology.published_port,
        compat=gateway.port,
        health=DEFAULT_HEALTH_INTERVAL,
    )
    if (wiring or Wiring.TIERED) is not Wiring.TIERED or discovery is not Discovery.REGISTRY:
        header += (
            f"#\n# Wiring: {wiring}, discovery: {discovery} (`shopnet compose --networks …`).\n"
        )
    body = yaml.dump(
        compose_model(topology, build_context=build_context, wiring=wiring, discovery=discovery),
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
    "image", "build", "user", "command", "environment", "secrets", "ports", "volumes", "networks",
    "depends_on",
    "healthcheck", "restart", "init", "read_only", "tmpfs", "cap_drop", "security_opt",
    "stop_signal", "stop_grace_period", "cpus", "mem_limit", "pids_limit", "labels", "logging",
)  # fmt: skip


def compose_model(
    topology: Topology,
    *,
    build_context: str = "..",
    wiring: Wiring | None = None,
    discovery: Discovery = Discovery.REGISTRY,
) -> dict[str, Any]:
    """The compose file as data (what `render` writes)."""
    project = names.project(topology.prefix)
    wiring = topology.wiring("docker", wiring)
    services = {
        service.name: _service(
            topology,
            service,
            project=project,
            build_context=build_context,
            wiring=wiring,
            discovery=discovery,
        )
        for service in topology.start_order()
    }
    if wiring is Wiring.SINGLE:
        single = networks(topology, wiring)[0]
        networks_ = {single.name: _network(single, f"{project}_{single.name}", project)}
    else:
        _check_gateway_networks(topology)
        networks_ = {
            tier.name: _network(
                tier,
                network_name(project, position, tier.name),
                project,
                internal=internal_network(topology, tier),
            )
            for position, tier in enumerate(topology.tiers, start=1)
        }
    # One named volume for the PostgreSQL datastore's data (a cache keeps nothing on disk).
    volumes = {}
    for store in topology.datastores(Engine.POSTGRES):
        labels = {names.LABEL_STACK: project, names.LABEL_SERVICE: store.name}
        volumes[names.DB_VOLUME] = {"labels": labels}
    secrets = {}
    folder = var(VAR_SECRETS_DIR, DEFAULT_SECRETS_DIR)
    for service in topology.start_order():
        for file in secretfiles.of_service(topology, service):
            secrets[file.key] = {"file": file.source(folder)}
    return {"services": services, "networks": networks_, "volumes": volumes, "secrets": secrets}


SINGLE_BRIDGE = "app"
"""Bridge suffix of the single network (`snd-app`): its name would not fit IFNAMSIZ."""


def bridge_name(project: str, network: Tier) -> str:
    """Host bridge of a tier's network (`snd-backend`), or of the single network (`snd-app`)."""
    single = network.bridge == ""  # the single network has no netns bridge of its own
    return names.bridge(project, SINGLE_BRIDGE if single else network.name)


def networks(topology: Topology, wiring: Wiring | None) -> tuple[Tier, ...]:
    """The networks a wiring creates: the tiers, or the single network."""
    if wiring is Wiring.SINGLE:
        if topology.single_network is None:
            raise ConfigError("the topology has no [single_network] for the single wiring")
        return (topology.single_network,)
    return topology.tiers


def published_service(topology: Topology) -> Service:
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


def internal_network(topology: Topology, tier: Tier) -> bool:
    """Whether a tier's network is `internal` (no route out): all but the one the published
    service is reached through, since Docker publishes a port only on a routable network."""
    return tier.internal or tier.name != published_service(topology).tier


def _network(
    tier: Tier, name: str, project: str, *, internal: bool | None = None
) -> dict[str, Any]:
    network: dict[str, Any] = {
        "name": name,
        "driver": "bridge",
        "driver_opts": {"com.docker.network.bridge.name": bridge_name(project, tier)},
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
    if tier.internal if internal is None else internal:
        network["internal"] = True
    network["labels"] = {names.LABEL_STACK: project, names.LABEL_TIER: tier.name}
    return network


def _service(
    topology: Topology,
    service: Service,
    *,
    project: str,
    build_context: str,
    wiring: Wiring | None,
    discovery: Discovery,
) -> dict[str, Any]:
    engine = service.engine()
    if service.kind is Kind.APP:
        spec = _app(
            topology, service, build_context=build_context, wiring=wiring, discovery=discovery
        )
    elif engine in DATASTORES:
        spec = DATASTORES[engine](service)
        spec["secrets"] = [f.key for f in secretfiles.of_service(topology, service)]
    else:
        raise ConfigError(f"docker mode has no image for datastore {service.name!r} ({engine})")
    spec["init"] = True  # a real PID 1: forwards the stop signal, reaps orphans
    spec["networks"] = _attachments(topology, service, wiring)
    if service.depends_on:
        spec["depends_on"] = {dep: {"condition": "service_healthy"} for dep in service.depends_on}
    spec["restart"] = "unless-stopped"
    spec["cpus"] = service.cpus
    spec["mem_limit"] = f"{service.memory_mb}m"
    spec["pids_limit"] = pids.limit(service)
    spec["labels"] = {
        names.LABEL_STACK: project,
        names.LABEL_SERVICE: service.name,
        names.LABEL_TIER: service.tier,
    }
    spec["logging"] = LOGGING
    harden(service, spec)
    return {key: spec[key] for key in sorted(spec, key=_KEY_ORDER.index)}


def _attachments(
    topology: Topology, service: Service, wiring: Wiring | None
) -> dict[str, dict[str, str]]:
    """Networks of a service; a fixed address in its home tier unless it scales (tiered);
    on the single network, whatever address Docker gives (host numbers repeat across tiers)."""
    if wiring is Wiring.SINGLE:
        return {name: {} for name in topology.attachments(service.name, wiring)}
    attached: dict[str, dict[str, str]] = {}
    for tier_name in topology.networks_of(service.name):
        if tier_name == service.tier and not service.scalable:
            tier = topology.tier(tier_name)
            address = tier.subnet.network_address + service.host
            attached[tier_name] = {"ipv4_address": str(address)}
        else:
            attached[tier_name] = {}
    return attached


def _app(
    topology: Topology,
    service: Service,
    *,
    build_context: str,
    wiring: Wiring | None,
    discovery: Discovery,
) -> dict[str, Any]:
    env = service_environment(
        topology,
        service,
        endpoint=lambda name: f"{name}:{topology.service(name).port}",
        db_password="",  # none in a URL: each logs in as its own user, password in a file
    )
    own = secretfiles.of_service(topology, service)
    env = secretfiles.environment(topology, service, env)
    env["SHOPNET_PORT"] = str(service.port)
    if discovery is Discovery.DNS and service.name == published_service(topology).name:
        # Every service it calls, by its compose name: Docker's DNS answers with each replica.
        called = [
            f"{f.target}={f.target}:{f.port}"
            for f in topology.flows
            if f.source == service.name and topology.service(f.target).kind is Kind.APP
        ]
        env["SHOPNET_GATEWAY_DISCOVERY"] = "dns"
        env["SHOPNET_GATEWAY_DNS_NAMES"] = ",".join(called)
    if service.name == "registry":
        env.update(registry_environment(topology, wiring))
    spec: dict[str, Any] = {
        "image": var(names.VAR_IMAGE, names.SERVICE_IMAGE),
        "build": {
            "context": build_context,
            "dockerfile": "containers/Dockerfile",
            "args": {"BASE_IMAGE": var(names.VAR_BASE_IMAGE, names.OFFICIAL_PYTHON_BASE)},
        },
        "command": ["serve", service.name],
        "environment": env,
        "secrets": [f.key for f in own],
    }
    if service.name == published_service(topology).name:
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
    password = secretfiles.SecretFile(service.name, secretfiles.SUPERUSER_PASSWORD)
    roles = secretfiles.SecretFile(service.name, secretfiles.ROLES)
    ready = f"pg_isready -q -h 127.0.0.1 -U {DB_USER} -d {DB_NAME}"
    # The roles (datastore_auth.roles_sql) once per container start, before the first
    # healthy check: the services depend on that, so none starts before its login exists.
    # As the superuser over the Unix socket (trust: only this container reaches it).
    grant = (
        f"psql -X -q -h /tmp -U {DB_USER} -d {DB_NAME} -v ON_ERROR_STOP=1 -f {roles.mount}"
        f" >/dev/null && touch {ROLES_APPLIED}"
    )
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
            "POSTGRES_PASSWORD_FILE": password.mount,
        },
        "volumes": [f"{names.DB_VOLUME}:/var/lib/postgresql/data"],
        # Over TCP: while the image initialises the cluster its server listens on no port,
        # so a socket check would pass too early.
        "healthcheck": {
            "test": ["CMD-SHELL", f"{ready} && {{ test -e {ROLES_APPLIED} || {{ {grant}; }}; }}"],
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
        "command": [
            "redis-server",
            *redis_cache_args(
                service.memory_mb * 3 // 4,
                aclfile=secretfiles.SecretFile(service.name, secretfiles.ACL).mount,
            ),
        ],
        "healthcheck": {"test": ["CMD", "redis-cli", "ping"], **HEALTH_TIMING},
        "stop_signal": "SIGTERM",
        "stop_grace_period": "10s",
    }


ROLES_APPLIED = "/tmp/roles-applied"
"""On the container's tmpfs: a new container (every `up`) applies the roles again."""
DATASTORES = {Engine.POSTGRES: _postgres, Engine.REDIS: _redis}
"""Engine → its compose service (image, command, volume, health check)."""
