"""What local and netns modes do to give each instance least privilege.

The launcher asks this module, per instance, for: the process wrapped in its
sandbox (`confine`), the service's environment with its own credentials instead
of the superuser's (`app_environment`), Redis's ACL file, and the PostgreSQL roles
(`grant_postgres`, once the server answers).

    netns, as root    unshare (mount, PID, IPC, UTS) + setpriv: own user, no caps, NNP
    local, as root    unshare (mount) + setpriv: the same user, file-system view, caps, NNP
    local, as a user  setpriv --no-new-privs (an ordinary user has nothing else to drop)
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from shopnet import spec as specs
from shopnet.common import internal
from shopnet.common.bindings import BINDINGS_HEADER, binding_line
from shopnet.errors import DriverError
from shopnet.runtime import datastore_auth, datastores, sandbox, tokens, users
from shopnet.runtime.process import ProcessSpec
from shopnet.runtime.secrets import RUNTIME, SecretStore
from shopnet.runtime.state import Layout
from shopnet.topology.model import Kind, Service, Topology
from shopnet.topology.wiring import DB_NAME, DB_USER

REGISTRY_TOKEN = "registry-token"
"""Each app service's own registry token (shopnet.registry.admission), in its folder."""


def secret_store(layout: Layout) -> SecretStore:
    return SecretStore(layout.data / "secrets")


def redis_auth(layout: Layout) -> tuple[str, str] | None:
    """The runtime's Redis credentials for the stack in `layout`, if it has any."""
    path = secret_store(layout).path(RUNTIME, "redis-admin")
    if not path.exists():
        return None
    return datastore_auth.REDIS_ADMIN_USER, path.read_text().strip()


@dataclasses.dataclass(frozen=True, slots=True)
class Confinement:
    """Per-stack least privilege for processes we start on this host."""

    layout: Layout

    @property
    def secrets(self) -> SecretStore:
        return secret_store(self.layout)

    def user(self, service: Service) -> users.User | None:
        """Who `service` runs as (None: whoever we are, when not root)."""
        if os.geteuid() != 0:
            return None
        return users.ensure(users.user_for(service.name))

    def confine(self, spec: ProcessSpec, service: Service, *, private_pids: bool) -> ProcessSpec:
        """`spec` run in its sandbox; the sandbox, not spawn(), switches the user."""
        user = self.user(service)
        if user is None:
            return dataclasses.replace(spec, argv=(*sandbox.no_new_privs(), *spec.argv))
        own = (self.layout.data / service.name,) if service.kind is Kind.DATASTORE else ()
        box = sandbox.Sandbox(
            user=user,
            writable=own,
            # A service's declared code directory (shopnet.spec) may be hidden like a home.
            readable=(
                self.secrets.folder(service.name, user=user),
                *((Path(service.code),) if service.code else ()),
            ),
            private_pids=private_pids,
            hostname=spec.instance if private_pids else None,
        )
        argv = sandbox.wrap(
            spec.argv,
            box,
            pidfile=self.layout.pids / f"{spec.instance}.pid",
            stop_signal=spec.stop_signal,
            stop_phase=spec.stop_phase,
        )
        # Until the sandbox rewrites it, the pidfile names unshare, which ignores SIGTERM and
        # SIGINT: a `down` then (after a killed `up`) kills it, and --kill-child the rest.
        first = signal.SIGKILL if private_pids else spec.stop_signal
        return dataclasses.replace(spec, argv=argv, user=None, stop_signal=first)

    def app_environment(self, service: Service, env: Mapping[str, str]) -> dict[str, str]:
        """`env` with the service's own datastore credentials, as files only it can read."""
        user = self.user(service)
        files: dict[str, str] = {}
        if "DATABASE_URL" in env and datastore_auth.schema_of(service):
            files["postgres"] = str(self.secrets.file(service.name, "postgres", user=user))
        if "REDIS_URL" in env:
            files["redis"] = str(self.secrets.file(service.name, "redis", user=user))
        return datastore_auth.authenticated_environment(env, service, secret_file=files)

    def registration_secret(self, instance: str, service: Service) -> Path | None:
        """The instance's own registry secret (0600, its user's), kept across its restarts.

        The registry is the one service that does not register.
        """
        if service.name == "registry":
            return None
        return self.secrets.file(service.name, f"registration-{instance}", user=self.user(service))

    def registry_token(self, service: Service, services: Iterable[Service]) -> Path:
        """`service`'s own registry token (0600, its own folder: the sandbox shows a service
        only that), made once; for the registry, the bindings of every service's token."""
        if service.name == "registry":
            return self.registry_bindings(service, services)
        return self.secrets.file(service.name, REGISTRY_TOKEN, user=self.user(service))

    def registry_bindings(self, registry: Service, services: Iterable[Service]) -> Path:
        """SHOPNET_REGISTRY_TOKENS_FILE: each app service's token digest and its service."""
        apps = [s for s in services if s.kind is Kind.APP and s.name != registry.name]
        lines = BINDINGS_HEADER + "".join(
            binding_line(s.name, self.secrets.get(s.name, REGISTRY_TOKEN, user=self.user(s)))
            for s in apps
        )
        return self.secrets.write(registry.name, "registry-tokens", lines, user=self.user(registry))

    def token_key(self, service: Service) -> Path | None:
        """The stack's token signing key where `service` may read it, if it verifies tokens."""
        if not specs.spec_of(service).verifies_tokens:
            return None
        return tokens.key_copy(self.secrets, service.name, user=self.user(service))

    def internal_credential(self, service: Service, topology: Topology) -> tuple[str, Path] | None:
        """(setting, file) of `service`'s internal-API credential, if it has one (the
        services' specs): a caller's own token, or for a callee its callers' tokens' digests."""
        all_callers = specs.internal_callers(topology)
        if callers := all_callers.get(service.name):
            lines = BINDINGS_HEADER + "".join(
                binding_line(caller, self._internal_token(caller)) for caller in callers
            )
            path = self.secrets.write(
                service.name, internal.CALLERS_FILE, lines, user=self.user(service)
            )
            return "SHOPNET_INTERNAL_CALLERS_FILE", path
        if any(service.name in callers for callers in all_callers.values()):
            self._internal_token(service.name)
            return "SHOPNET_INTERNAL_TOKEN_FILE", self.secrets.path(
                service.name, internal.TOKEN_FILE
            )
        return None

    def _internal_token(self, caller: str) -> str:
        """`caller`'s own internal token, made once in its folder."""
        user = users.ensure(users.user_for(caller)) if os.geteuid() == 0 else None
        return self.secrets.get(caller, internal.TOKEN_FILE, user=user)

    # -- datastores -----------------------------------------------------------

    def redis_aclfile(self, redis: Service, topology: Topology) -> Path:
        """Write Redis's ACL file (hashed passwords, readable by the redis user only): a user
        for each service whose `uses` name this Redis, on its key prefix."""
        prefixes = datastore_auth.redis_prefixes(topology, redis.name)
        passwords = {
            name: self.secrets.get(name, "redis", user=self.user(topology.service(name)))
            for name in prefixes
        }
        text = datastore_auth.redis_acl(
            prefixes, passwords, admin_password=self.secrets.get(RUNTIME, "redis-admin")
        )
        return self.secrets.write(redis.name, "users.acl", text, user=self.user(redis))

    def grant_postgres(self, *, host: str, port: int, topology: Topology) -> None:
        """Create/refresh the owner and login role of every service with a schema in
        `topology` (as the bootstrap superuser)."""
        schemas = datastore_auth.schemas(topology)
        passwords = {
            name: self.secrets.get(name, "postgres", user=self.user(topology.service(name)))
            for name in schemas
        }
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PGPASSWORD": self.layout.db_password(),
            "PGCONNECT_TIMEOUT": "5",
        }
        argv = [
            datastores.find_binary("psql"),
            *("-X", "-q", "-h", host, "-p", str(port), "-U", DB_USER, "-d", DB_NAME),
        ]
        done = subprocess.run(
            argv,
            input="\\set ON_ERROR_STOP on\n" + datastore_auth.roles_sql(schemas, passwords),
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise DriverError(f"setting up PostgreSQL roles failed: {done.stderr.strip()[-300:]}")
