"""A docker stack's secrets: which container gets which file, and writing them (issue 9).

The same store, folders and names as local and netns mode (shopnet.runtime.secrets:
`<data>/secrets/<owner>/<name>`, 0600 in a 0700 folder), handed to compose as file
`secrets:` — each container sees its own under /run/secrets/<owner>_<name>, never in
its environment or argv:

    every app        its own registry token (shopnet.registry.admission)
    registry         the bindings: each token's SHA-256 and the service it may write
    each app         its PostgreSQL login's password and its Redis user's, for the
                     datastores its `uses` name (shopnet.runtime.datastore_auth); an
                     internal-API caller its own token, the callee its callers' digests
                     (its ServiceSpec, shopnet.spec)
    gateway          the token signing key (shopnet.runtime.tokens)
    postgres         the bootstrap superuser's password (POSTGRES_PASSWORD_FILE, read
                     on first start) and the roles SQL (SCRAM verifiers, no plaintext),
                     which its health check applies, so no service starts before its role
    redis            the ACL file (hashed passwords; `user default off`)
    runtime          the Redis admin's password: host only (restore, bench flushes)

Compose bind-mounts a file secret with the host file's owner and mode (1.29 and v2
both ignore a secret's uid/gid/mode without swarm), so each file belongs to the uid
its container runs as: 10001 for our services, the datastore image's own `postgres`
or `redis` user, asked of the image once per image id (`id` in a throwaway container).
The folders stay root's (0700): the engine mounts the files as root, and a host user
that happens to have a container's uid cannot reach them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shopnet import spec as specs
from shopnet.common import internal
from shopnet.common.bindings import BINDINGS_HEADER, binding_line
from shopnet.errors import DriverError
from shopnet.gateway.routes import format_routes
from shopnet.runtime import datastore_auth, nofollow, tokens
from shopnet.runtime.secrets import RUNTIME, SecretStore
from shopnet.runtime.users import User
from shopnet.topology.model import Engine, Kind, Service, Topology
from shopnet_docker.engine import Docker
from shopnet_docker.hardening import DATASTORE_USERS
from shopnet_docker.names import Images

SERVICE_UID = 10001
"""The user our service image runs as (containers/Dockerfile)."""

VAR_SECRETS_DIR = "SHOPNET_SECRETS_DIR"
DEFAULT_SECRETS_DIR = "./secrets"
"""Relative to the compose file; absent by default, so a stack never runs with known secrets."""
MOUNTS = "/run/secrets"
SUPERUSER_PASSWORD = "password"
ROLES = "roles.sql"
ACL = "users.acl"
INTERNAL_TOKEN = internal.TOKEN_FILE
INTERNAL_CALLERS = internal.CALLERS_FILE
REGISTRY_TOKEN = "registry-token"
REGISTRY_BINDINGS = "registry-tokens"
ADMIN = "redis-admin"


@dataclass(frozen=True, slots=True)
class SecretFile:
    owner: str
    """The service whose folder holds it (and whose container mounts it)."""
    name: str

    @property
    def key(self) -> str:
        """Its name in the compose file: `product_postgres`, `redis_users_acl`."""
        return f"{self.owner}_{self.name}".replace("-", "_").replace(".", "_")

    @property
    def mount(self) -> str:
        return f"{MOUNTS}/{self.key}"

    def source(self, secrets_dir: str) -> str:
        return f"{secrets_dir}/{self.owner}/{self.name}"


def of_service(topology: Topology, service: Service) -> tuple[SecretFile, ...]:
    """The files `service`'s containers mount."""
    if service.kind is Kind.DATASTORE:
        engine = service.engine()
        if engine is Engine.POSTGRES:
            return (SecretFile(service.name, SUPERUSER_PASSWORD), SecretFile(service.name, ROLES))
        if engine is Engine.REDIS:
            return (SecretFile(service.name, ACL),)
        return ()
    engines = {topology.service(use.datastore).engine() for use in service.uses}
    found = [
        SecretFile(
            service.name, REGISTRY_BINDINGS if service.name == "registry" else REGISTRY_TOKEN
        )
    ]
    if Engine.POSTGRES in engines and datastore_auth.schema_of(service):
        found.append(SecretFile(service.name, "postgres"))
    if Engine.REDIS in engines:
        found.append(SecretFile(service.name, "redis"))
    callers = specs.internal_callers(topology)
    if service.name in callers:
        found.append(SecretFile(service.name, INTERNAL_CALLERS))
    elif any(service.name in each for each in callers.values()):
        found.append(SecretFile(service.name, INTERNAL_TOKEN))
    if specs.spec_of(service).verifies_tokens:
        found.append(SecretFile(service.name, tokens.KEY))
    return tuple(found)


SETTINGS = {
    REGISTRY_TOKEN: "SHOPNET_REGISTRY_TOKEN_FILE",
    REGISTRY_BINDINGS: "SHOPNET_REGISTRY_TOKENS_FILE",
    INTERNAL_TOKEN: "SHOPNET_INTERNAL_TOKEN_FILE",
    INTERNAL_CALLERS: "SHOPNET_INTERNAL_CALLERS_FILE",
    tokens.KEY: "SHOPNET_GATEWAY_TOKEN_KEY_FILE",
}
"""The *_FILE setting that names each mounted file (the datastore logins: `credentials`)."""


def environment(topology: Topology, service: Service, env: dict[str, str]) -> dict[str, str]:
    """An app's wired `env` with its own logins and every secret file's setting (mounts under
    MOUNTS): the same in docker, swarm and Kubernetes."""
    out = datastore_auth.authenticated_environment(
        env, service, secret_file=credentials(topology, service)
    )
    for file in of_service(topology, service):
        if file.name in SETTINGS:
            out[SETTINGS[file.name]] = file.mount
    if service.name == "gateway":
        out["SHOPNET_GATEWAY_ROUTES"] = format_routes(specs.gateway_routes(topology))
    return out


def credentials(topology: Topology, service: Service) -> dict[str, str]:
    """Engine name → the mounted password file of `service`'s own datastore logins."""
    return {
        f.name: f.mount for f in of_service(topology, service) if f.name in {"postgres", "redis"}
    }


def write(
    store: SecretStore,
    topology: Topology,
    *,
    superuser_password: str,
    user_of: Callable[[Service], User],
) -> None:
    """(Re)write every file of `of_service`, each owned by the user its container runs as.

    Passwords are made once and kept with the data; the roles SQL and the ACL file are
    rendered again from them (the roles, like in the other modes, are set on every start).
    """
    passwords: dict[str, dict[str, str]] = {}
    for service in topology.services:
        user = user_of(service)
        for file in of_service(topology, service):
            if file.name in {"postgres", "redis"}:
                value = store.get(service.name, file.name, user=user)
                passwords.setdefault(file.name, {})[service.name] = value
            elif file.name == INTERNAL_TOKEN:
                value = store.get(service.name, INTERNAL_TOKEN, user=user)
            elif file.name == tokens.KEY:
                value = tokens.key_text(store)
            elif file.name == REGISTRY_TOKEN:
                value = store.get(service.name, REGISTRY_TOKEN, user=user)
            else:
                continue
            store.write(service.name, file.name, value, user=user)  # owner follows the image
    for service in topology.services:
        names = {f.name for f in of_service(topology, service)}
        user = user_of(service)
        if ROLES in names:
            store.write(service.name, SUPERUSER_PASSWORD, superuser_password, user=user)
            store.write(
                service.name,
                ROLES,
                datastore_auth.roles_sql(
                    datastore_auth.schemas(topology), passwords.get("postgres", {})
                ),
                user=user,
            )
        if ACL in names:
            text = datastore_auth.redis_acl(
                datastore_auth.redis_prefixes(topology, service.name),
                passwords.get("redis", {}),
                admin_password=store.get(RUNTIME, ADMIN),
            )
            store.write(service.name, ACL, text, user=user)
        if INTERNAL_CALLERS in names:
            lines = BINDINGS_HEADER + "".join(
                binding_line(caller, store.get(caller, INTERNAL_TOKEN, user=user))
                for caller in specs.internal_callers(topology)[service.name]
            )
            store.write(service.name, INTERNAL_CALLERS, lines, user=user)
        if REGISTRY_BINDINGS in names:
            apps = [s for s in topology.services if s.kind is Kind.APP and s != service]
            lines = BINDINGS_HEADER + "".join(
                binding_line(s.name, store.get(s.name, REGISTRY_TOKEN, user=user_of(s)))
                for s in apps
            )
            store.write(service.name, REGISTRY_BINDINGS, lines, user=user)
    if os.geteuid() == 0:
        for folder in store.dir.iterdir():
            os.chown(folder, 0, 0)


def container_users(docker: Docker, images: Images, cache: Path) -> Callable[[Service], User]:
    """Who each service's container runs as (hardening.py), datastores looked up lazily."""
    service_user = User("shopnet", SERVICE_UID, SERVICE_UID)
    image = {Engine.POSTGRES: images.postgres, Engine.REDIS: images.redis}
    found: dict[str, User] = {}

    def user_of(service: Service) -> User:
        if service.kind is Kind.APP:
            return service_user
        if service.name not in found:
            engine = service.engine()
            if engine not in image or service.name not in DATASTORE_USERS:
                raise DriverError(f"docker mode has no image user for {service.name!r}")
            found[service.name] = image_user(
                docker, image[engine], DATASTORE_USERS[service.name], cache
            )
        return found[service.name]

    return user_of


def image_user(docker: Docker, image: str, user: str, cache: Path) -> User:
    """uid/gid of `user` in `image`, remembered in `cache` per image id."""
    image_id = docker.run(
        "image", "inspect", "-f", "{{.Id}}", image, what=f"inspecting {image}"
    ).stdout.strip()
    key = f"{image_id} {user}"
    known = json.loads(cache.read_text()) if cache.exists() else {}
    if key not in known:
        out = docker.run(
            "run", "--rm", "--network", "none", "--user", user, "--entrypoint", "id", image,
            what=f"looking up the {user} user of {image}",
        ).stdout  # fmt: skip
        fields = dict(part.split("=", 1) for part in out.split()[:2])
        try:
            known[key] = [int(fields["uid"].split("(")[0]), int(fields["gid"].split("(")[0])]
        except (KeyError, ValueError):
            raise DriverError(
                f"cannot read the {user} user of {image} from `id`: {out!r}"
            ) from None
        nofollow.write_private_file(cache, json.dumps(known))
    uid, gid = known[key]
    return User(user, uid, gid)


def write_folder(folder: Path, topology: Topology, images: Images) -> str:
    """Every secret of the compose file into `folder` (for compose run by hand), with the
    users of `images` (settings.images())."""
    store = SecretStore(folder.resolve())
    users = container_users(Docker(), images, store.dir / "image-users.json")
    password = store.get(RUNTIME, SUPERUSER_PASSWORD)
    write(store, topology, superuser_password=password, user_of=users)
    return f"wrote the secrets into {store.dir}: SHOPNET_SECRETS_DIR={store.dir}"
