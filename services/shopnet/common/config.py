"""Service configuration from environment variables.

Each service has a frozen dataclass whose fields are declared with `setting()`:
the environment variable, the default and one line of documentation live next
to the field, so `shopnet config --markdown` (and docs/configuration.md, which a
test keeps in step) is generated from the code that reads them.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Mapping
from typing import Any, ClassVar, Self, get_type_hints

from shopnet.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def setting(env: str, default: Any, doc: str) -> Any:
    """Declare a dataclass field read from the environment variable `env`."""
    return dataclasses.field(default=default, metadata={"env": env, "doc": doc})


def _parse(raw: str, kind: type, env: str) -> Any:
    raw = raw.strip()
    try:
        if kind is bool:
            if raw.lower() in _TRUE:
                return True
            if raw.lower() in _FALSE:
                return False
            raise ValueError(raw)
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
    except ValueError:
        raise ConfigError(f"{env}={raw!r} is not a valid {kind.__name__}") from None
    return raw


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ServiceConfig:
    """What every service reads: identity, listening address, registry, logging, shutdown."""

    service: ClassVar[str] = "service"
    default_port: ClassVar[int] = 0
    default_admin_port: ClassVar[int] = 0

    instance_id: str = setting(
        "SHOPNET_INSTANCE_ID",
        "",
        "Instance id in the registry (default: <service>-<hostname>-<port>).",
    )
    bind: str = setting("SHOPNET_BIND", "0.0.0.0", "Address to listen on.")
    port: int = setting("SHOPNET_PORT", 0, "Port to listen on (default: the service's port).")
    admin_port: int = setting(
        "SHOPNET_ADMIN_PORT",
        -1,
        "Port of the admin listener (/health, /ready, /metrics); 0: none, they are served on "
        "SHOPNET_PORT.",
    )
    admin_bind: str = setting(
        "SHOPNET_ADMIN_BIND", "", "Address the admin listener binds (default: SHOPNET_BIND)."
    )
    advertise_address: str = setting(
        "SHOPNET_ADVERTISE_ADDRESS",
        "",
        "Address registered for others to call (default: our source address towards the registry).",
    )
    registry_url: str = setting(
        "SERVICE_REGISTRY", "http://127.0.0.1:8500", "Base URL of the service registry."
    )
    register: bool = setting("SHOPNET_REGISTER", True, "Register in the registry and heartbeat.")
    registry_token_file: str = setting(
        "SHOPNET_REGISTRY_TOKEN_FILE",
        "",
        "File holding this service's own registry token (0600): it writes only this "
        "service's instances; needed to register.",
    )
    registration_secret_file: str = setting(
        "SHOPNET_REGISTRATION_SECRET_FILE",
        "",
        "File holding this instance's own registration secret (0600). A restarted instance "
        "presents it and gets its id back at once, not after the old entry's TTL.",
    )
    ttl_seconds: float = setting(
        "SHOPNET_TTL_SECONDS", 10.0, "Registration TTL; the heartbeat runs every TTL/3."
    )
    deregister_after_seconds: float = setting(
        "SHOPNET_DEREGISTER_AFTER_SECONDS",
        60.0,
        "How long an instance may stay critical before the registry removes it.",
    )
    log_level: str = setting(
        "SHOPNET_LOG_LEVEL", "INFO", "Log level (DEBUG, INFO, WARNING, ERROR)."
    )
    access_log: bool = setting(
        "SHOPNET_ACCESS_LOG",
        False,
        "Log every request as a JSON line (aiohttp then serves every request: the hot paths' "
        "own protocol writes no access log).",
    )
    max_body_bytes: int = setting(
        "SHOPNET_MAX_BODY_BYTES", 1 << 20, "Largest request body accepted (413 above)."
    )
    deregister_grace_seconds: float = setting(
        "SHOPNET_DEREGISTER_GRACE_SECONDS",
        0.5,
        "On SIGTERM, time between deregistering and closing the listener, so watchers move away.",
    )
    drain_seconds: float = setting(
        "SHOPNET_DRAIN_SECONDS", 10.0, "On SIGTERM, how long in-flight requests may finish."
    )
    head_timeout_seconds: float = setting(
        "SHOPNET_HEAD_TIMEOUT_SECONDS",
        10.0,
        "Time for a request head to arrive once it started (then 408 and close).",
    )
    body_timeout_seconds: float = setting(
        "SHOPNET_BODY_TIMEOUT_SECONDS",
        10.0,
        "Time for a request body to arrive once the handler reads it (then 408 and close).",
    )
    keepalive_seconds: float = setting(
        "SHOPNET_KEEPALIVE_SECONDS", 75.0, "How long an idle client connection stays open."
    )
    max_connections: int = setting(
        "SHOPNET_MAX_CONNECTIONS",
        1024,
        "Open client connections per worker process; more get a 503 and are closed.",
    )
    log_max_bytes: int = setting(
        "SHOPNET_LOG_MAX_BYTES",
        10 << 20,
        "When the log file (stderr redirected to a file) passes this size it is rotated "
        "(0: never).",
    )
    log_backups: int = setting("SHOPNET_LOG_BACKUPS", 3, "Rotated log files kept (<file>.1 … .N).")

    def __post_init__(self) -> None:
        if not self.port:
            object.__setattr__(self, "port", self.default_port)
        if not 0 < self.port < 65536:
            raise ConfigError(f"SHOPNET_PORT={self.port} is not a TCP port")
        if self.admin_port < 0:
            object.__setattr__(self, "admin_port", self.default_admin_port)
        if not 0 <= self.admin_port < 65536 or self.admin_port == self.port:
            raise ConfigError(
                f"SHOPNET_ADMIN_PORT={self.admin_port} is not a TCP port other than SHOPNET_PORT"
            )
        if not self.admin_bind:
            object.__setattr__(self, "admin_bind", self.bind)
        if self.ttl_seconds <= 0:
            raise ConfigError("SHOPNET_TTL_SECONDS must be positive")
        if not self.instance_id:
            object.__setattr__(
                self, "instance_id", f"{self.service}-{socket.gethostname()}-{self.port}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """Build the config from `environ` (default: os.environ); `overrides` win."""
        environ = os.environ if environ is None else environ
        hints = get_type_hints(cls)
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            env = field.metadata.get("env")
            if env and env in environ and environ[env] != "":
                values[field.name] = _parse(environ[env], hints[field.name], env)
        values.update(overrides)
        return cls(**values)

    @classmethod
    def documentation(cls) -> list[tuple[str, str, str]]:
        """(variable, default, description) for every setting, in declaration order."""
        rows = []
        for field in dataclasses.fields(cls):
            if "env" in field.metadata:
                default = field.default
                if field.name == "port":
                    default = cls.default_port
                if field.name == "admin_port":
                    default = cls.default_admin_port
                rows.append((field.metadata["env"], str(default), field.metadata["doc"]))
        return rows


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DatabaseConfig(ServiceConfig):
    """What a service that owns a PostgreSQL schema reads besides the common settings."""

    database_url: str = setting(
        "DATABASE_URL",
        "postgresql://shopnet@127.0.0.1:5432/shopnet",
        "PostgreSQL DSN; the service keeps its data in its own schema (`products`, `orders`).",
    )
    database_password_file: str = setting(
        "DATABASE_PASSWORD_FILE",
        "",
        "File holding the PostgreSQL password (kept out of the DSN, the environment and argv).",
    )
    db_migration_role: str = setting(
        "SHOPNET_DB_MIGRATION_ROLE",
        "",
        "Role migrations run as (`SET ROLE`: the schema's owner); empty: the login role.",
    )
    db_pool_min: int = setting("SHOPNET_DB_POOL_MIN", 2, "PostgreSQL connections kept open.")
    db_pool_max: int = setting("SHOPNET_DB_POOL_MAX", 10, "Most PostgreSQL connections at once.")
    db_timeout_seconds: float = setting(
        "SHOPNET_DB_TIMEOUT_SECONDS",
        5.0,
        "Bound on one statement and on waiting for a pooled connection (then 503).",
    )
    db_wait_seconds: float = setting(
        "SHOPNET_DB_WAIT_SECONDS", 60.0, "How long start-up waits for PostgreSQL to accept us."
    )

    def __post_init__(self) -> None:
        ServiceConfig.__post_init__(self)  # zero-argument super() fails in slotted dataclasses
        if not 1 <= self.db_pool_min <= self.db_pool_max:
            raise ConfigError("need 1 <= SHOPNET_DB_POOL_MIN <= SHOPNET_DB_POOL_MAX")
        require_positive(SHOPNET_DB_TIMEOUT_SECONDS=self.db_timeout_seconds)


def read_secret(path: str) -> str | None:
    """The secret in file `path` (surrounding whitespace dropped), or None for no path."""
    if not path:
        return None
    try:
        with open(path) as secret:
            return secret.read().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read secret file {path}: {exc.strerror}") from None


def require_positive(**settings: float) -> None:
    """ConfigError naming the first of `settings` (env name → value) that is not > 0."""
    for env, value in settings.items():
        if value <= 0:
            raise ConfigError(f"{env} must be positive")
