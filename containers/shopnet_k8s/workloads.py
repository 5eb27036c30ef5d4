"""Pods of the stack: a Deployment per app service, a StatefulSet per datastore, a Service each.

What the compose file says, said for Kubernetes:

- the images docker mode builds offline (shopnet_docker.names.OFFLINE), with the
  users their Dockerfiles create, as numbers: `runAsNonRoot` can only be checked
  against a numeric uid, and initdb refuses a uid missing from /etc/passwd;
- every container least-privileged (Pod Security "restricted"): non-root, no
  privilege escalation, no capabilities, RuntimeDefault seccomp, a read-only root
  with emptyDir volumes where a program must write (/tmp, PostgreSQL's socket
  directory, Redis's working directory); no service-account token, no service
  links (the `POSTGRES_PORT=tcp://…` variables they inject mean nothing here);
- probes: startup and liveness on GET /health, readiness on GET /ready for our
  services; pg_isready and redis-cli ping for the datastores, as compose does;
- limits from the topology (cpus, memory_mb); requests: all of the memory (it must
  not be overcommitted) and a quarter of the CPU, so the stack fits a small cluster;
- environment from shopnet.topology.wiring with Service DNS names as endpoints, and
  the same trust as docker mode (shopnet_docker.secretfiles): each service its own
  Secret, mounted as files under /run/secrets (its PostgreSQL role's and Redis user's
  passwords, its registry token, its internal token or its callers' digests, the
  gateway's token signing key); PostgreSQL gets the roles SQL, which its probe applies,
  Redis an ACL file (`user default off`). No app gets the database owner's password.
- no pids limit: Kubernetes has no per-pod or per-container field for it, only the
  kubelet's node-wide `podPidsLimit` (shopnet.runtime.pids, docs/security.md).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from shopnet.errors import ConfigError
from shopnet.runtime.datastores import redis_cache_args
from shopnet.topology.model import Kind, Service, Topology
from shopnet.topology.wiring import DB_NAME, DB_USER, service_environment
from shopnet_docker import secretfiles
from shopnet_docker.compose import POSTGRES_MAX_CONNECTIONS, ROLES_APPLIED
from shopnet_docker.names import OFFLINE
from shopnet_k8s import objects


@dataclass(frozen=True, slots=True)
class ImageUser:
    """The user an image runs as, by number."""

    uid: int
    gid: int


APP_USER = ImageUser(10001, 10001)
"""containers/Dockerfile: `useradd --uid 10001`."""
POSTGRES_USER = ImageUser(100, 102)
"""containers/postgres: Debian's postgresql-common creates `postgres` as the first system
user of a minbase (uid 100; group 102 after ssl-cert's 101). tests/k8s checks the image."""
REDIS_USER = ImageUser(100, 101)
"""containers/redis: redis-server's package creates `redis` as the first system user."""

SECRETS_VOLUME = "secrets"
REGISTRY_SUBNETS = "*=10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"
"""Pod addresses come from the cluster's pod network (a private range); that a service
registers only its own pod IP, and only its own service, the registry still checks."""
PGDATA = "/var/lib/postgresql/data/pgdata"
"""A directory below the volume's root, which may hold lost+found (initdb wants it empty)."""
DB_STORAGE = "1Gi"
APP_STOP_GRACE_SECONDS = 15
"""As compose's stop_grace_period: above the services' drain time (10 s) and deregistration."""
DATASTORE_STOP_GRACE_SECONDS = {"postgres": 30, "redis": 10}

CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
}


def workloads(topology: Topology, *, namespace: str, scale: dict[str, int]) -> list[dict[str, Any]]:
    """For each service in start order: its Deployment or StatefulSet, then its Service."""
    documents: list[dict[str, Any]] = []
    for service in topology.start_order():
        replicas = scale.get(service.name, 1)
        documents.append(_workload(topology, service, namespace=namespace, replicas=replicas))
        documents.append(_service(topology, service, namespace=namespace))
    return documents


def _service(topology: Topology, service: Service, *, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": objects.metadata(service.name, namespace, objects.labels(topology, service)),
        "spec": {
            "selector": objects.selector(service),
            "ports": [
                {"name": _port_name(service), "port": service.port, "targetPort": service.port}
            ],
        },
    }


def _workload(
    topology: Topology, service: Service, *, namespace: str, replicas: int
) -> dict[str, Any]:
    labels = objects.labels(topology, service)
    if service.kind is Kind.APP:
        pod, claims = _app_pod(topology, service), []
    elif service.name == "postgres":
        pod, claims = _postgres_pod(topology, service), [_claim(topology, service)]
    elif service.name == "redis":
        pod, claims = _redis_pod(topology, service), []
    else:
        raise ConfigError(f"k8s: no image for datastore {service.name!r}")
    spec: dict[str, Any] = {
        "replicas": replicas,
        "revisionHistoryLimit": 3,
        "selector": {"matchLabels": objects.selector(service)},
        "template": {"metadata": {"labels": labels}, "spec": pod},
    }
    if service.kind is Kind.APP:
        kind = "Deployment"
        # One instance means one: a second registry during a rollout would split the catalog.
        spec["strategy"] = (
            {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
            if service.scalable
            else {"type": "Recreate"}
        )
    else:
        kind = "StatefulSet"
        spec["serviceName"] = service.name
        if claims:
            spec["volumeClaimTemplates"] = claims
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": objects.metadata(service.name, namespace, labels),
        "spec": spec,
    }


def _pod(
    service: Service,
    container: dict[str, Any],
    *,
    topology: Topology,
    user: ImageUser,
    writable: dict[str, str],
    volumes: tuple[dict[str, Any], ...] = (),
    fs_group: bool = False,
) -> dict[str, Any]:
    """A pod of one container; `writable` maps emptyDir volume names to mount paths. Its
    Secret (if it has one) is mounted at /run/secrets, each file readable by the pod's
    group only (owner root, group fsGroup: the user's own group)."""
    if secretfiles.of_service(topology, service):
        fs_group = True
        container.setdefault("volumeMounts", []).append(
            {"name": SECRETS_VOLUME, "mountPath": secretfiles.MOUNTS, "readOnly": True}
        )
        volumes = (
            *volumes,
            {
                "name": SECRETS_VOLUME,
                "secret": {
                    "secretName": objects.secret_name(topology, service),
                    "defaultMode": 0o440,
                },
            },
        )
    security: dict[str, Any] = {
        "runAsNonRoot": True,
        "runAsUser": user.uid,
        "runAsGroup": user.gid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if fs_group:  # volumes (data, secret) become the user's group's, readable and writable
        security["fsGroup"] = user.gid
        security["fsGroupChangePolicy"] = "OnRootMismatch"
    mounts = [{"name": name, "mountPath": path} for name, path in writable.items()]
    container["volumeMounts"] = [*mounts, *container.get("volumeMounts", [])]
    container["securityContext"] = copy.deepcopy(CONTAINER_SECURITY)  # each document its own
    container["resources"] = resources(service)
    grace = (
        APP_STOP_GRACE_SECONDS
        if service.kind is Kind.APP
        else DATASTORE_STOP_GRACE_SECONDS.get(service.name, 30)
    )
    return {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": security,
        "terminationGracePeriodSeconds": grace,
        "containers": [container],
        "volumes": [*({"name": name, "emptyDir": {}} for name in writable), *volumes],
    }


def resources(service: Service) -> dict[str, Any]:
    millicores = round(service.cpus * 1000)
    memory = f"{service.memory_mb}Mi"
    return {
        "limits": {"cpu": f"{millicores}m", "memory": memory},
        "requests": {"cpu": f"{max(millicores // 4, 10)}m", "memory": memory},
    }


def _port_name(service: Service) -> str:
    return "http" if service.kind is Kind.APP else "tcp"


def _ports(service: Service) -> list[dict[str, Any]]:
    return [{"name": _port_name(service), "containerPort": service.port, "protocol": "TCP"}]


def _http_probe(path: str, port: int, *, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def _exec_probe(argv: list[str], *, period: int, failures: int) -> dict[str, Any]:
    return {
        "exec": {"command": argv},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def _app_pod(topology: Topology, service: Service) -> dict[str, Any]:
    wired = service_environment(
        topology,
        service,
        endpoint=lambda name: f"{name}:{topology.service(name).port}",
        db_password="",  # none in a URL: each logs in as its own user, password in a file
    )
    wired = secretfiles.environment(topology, service, wired)
    if service.name == "registry":
        wired["SHOPNET_REGISTRY_ALLOWED_SUBNETS"] = REGISTRY_SUBNETS
    env: list[dict[str, Any]] = [{"name": name, "value": value} for name, value in wired.items()]
    env.append({"name": "SHOPNET_PORT", "value": str(service.port)})
    env.append(
        {
            "name": "SHOPNET_ADVERTISE_ADDRESS",
            "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}},
        }
    )
    container = {
        "name": service.name,
        "image": OFFLINE.service,
        "imagePullPolicy": "IfNotPresent",
        "args": ["serve", service.name],  # the image's entrypoint is `python3 -m shopnet`
        "ports": _ports(service),
        "env": env,
        # Up to 60 s to start (compose's start_period: the product service seeds its catalog).
        "startupProbe": _http_probe("/health", service.port, period=2, failures=30),
        "livenessProbe": _http_probe("/health", service.port, period=10, failures=3),
        # /ready is on the admin listener where the service has one (the gateway).
        "readinessProbe": _http_probe(
            "/ready", service.admin_port or service.port, period=5, failures=2
        ),
    }
    return _pod(service, container, topology=topology, user=APP_USER, writable={"tmp": "/tmp"})


def _postgres_pod(topology: Topology, service: Service) -> dict[str, Any]:
    password = secretfiles.SecretFile(service.name, secretfiles.SUPERUSER_PASSWORD)
    roles = secretfiles.SecretFile(service.name, secretfiles.ROLES)
    check = f"pg_isready -q -h 127.0.0.1 -U {DB_USER} -d {DB_NAME}"
    # As compose's health check: each service's role (datastore_auth.roles_sql) applied once
    # per container start, before the first ready answer, as the superuser over the socket.
    grant = (
        f"psql -X -q -h /tmp -U {DB_USER} -d {DB_NAME} -v ON_ERROR_STOP=1 -f {roles.mount}"
        f" >/dev/null && touch {ROLES_APPLIED}"
    )
    ready = ["sh", "-c", f"{check} && {{ test -e {ROLES_APPLIED} || {{ {grant}; }}; }}"]
    container = {
        "name": service.name,
        "image": OFFLINE.postgres,
        "imagePullPolicy": "IfNotPresent",
        "args": [
            *("postgres", "-c", f"max_connections={POSTGRES_MAX_CONNECTIONS}"),
            *("-c", "unix_socket_directories=/tmp"),  # the root is read-only; /tmp is not
        ],
        "ports": _ports(service),
        "env": [
            {"name": "POSTGRES_USER", "value": DB_USER},
            {"name": "POSTGRES_DB", "value": DB_NAME},
            # A file, not a variable: the entrypoint reads it once, for initdb.
            {"name": "POSTGRES_PASSWORD_FILE", "value": password.mount},
            {"name": "PGDATA", "value": PGDATA},
        ],
        # The first start runs initdb: allow two minutes.
        "startupProbe": _exec_probe(ready, period=2, failures=60),
        "livenessProbe": _exec_probe(ready, period=10, failures=3),
        "readinessProbe": _exec_probe(ready, period=5, failures=2),
        # Kubernetes sends SIGTERM (PostgreSQL's "smart" shutdown waits for every client);
        # compose's stop signal is SIGINT, a fast shutdown. This is the same.
        "lifecycle": {
            "preStop": {"exec": {"command": ["pg_ctl", "stop", "-m", "fast", "-D", PGDATA]}}
        },
        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}],
    }
    return _pod(
        service,
        container,
        topology=topology,
        user=POSTGRES_USER,
        writable={"tmp": "/tmp", "run": "/var/run/postgresql"},
        fs_group=True,
    )


def _claim(topology: Topology, service: Service) -> dict[str, Any]:
    return {
        "metadata": {"name": "data", "labels": objects.labels(topology, service)},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": DB_STORAGE}},
        },
    }


def _redis_pod(topology: Topology, service: Service) -> dict[str, Any]:
    ping = ["redis-cli", "ping"]
    acl = secretfiles.SecretFile(service.name, secretfiles.ACL)
    container = {
        "name": service.name,
        "image": OFFLINE.redis,
        "imagePullPolicy": "IfNotPresent",
        # A cache: nothing on disk, LRU under three quarters of the memory limit (as compose);
        # its users from the ACL file (`user default off`), not protected mode.
        "args": [
            "redis-server",
            *redis_cache_args(service.memory_mb * 3 // 4, aclfile=acl.mount),
        ],
        "ports": _ports(service),
        "livenessProbe": _exec_probe(ping, period=10, failures=3),
        "readinessProbe": _exec_probe(ping, period=5, failures=2),
    }
    return _pod(
        service,
        container,
        topology=topology,
        user=REDIS_USER,
        writable={"tmp": "/tmp", "data": "/data"},
    )
