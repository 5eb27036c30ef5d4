"""Who may do what in Redis and PostgreSQL: ACL users, roles, and the services' credentials.

All of it is derived from the topology's `uses` (a service's schema, its Redis key
prefix), the same in local, netns, docker, swarm and Kubernetes mode:

Redis (an `--aclfile`; docs/security.md): the default user is off; every service
that uses the Redis has a user of its own name that may run reads, writes, scripts
and connection commands on the keys under its declared `key_prefix` only (one
pattern, `~<prefix>*`, the one a restore's flush matches), nothing dangerous, plus
TIME (the product's list generation starts from Redis' clock); `shopnet-admin`
(the runtime: health checks, and the prefix flush after a restore and in the bench
— a SCAN + UNLINK script) may ping, flush and delete its users' keys (write-only,
`%W~`) but read no key. Passwords are stored as SHA-256 in the ACL file.

PostgreSQL: the bootstrap superuser `shopnet` is kept for the runtime (roles,
backup, restore) only. Each schema a service declares has a NOLOGIN owner
(`<schema>_owner`) that owns its tables; each service logs in as its own role
(`<service>_app`) with data privileges on its own schema and nothing else, and runs
its migrations after `SET ROLE <owner>` (a NOINHERIT membership: the owner's rights
exist only while it says so). PUBLIC loses CONNECT/TEMP on the database. Passwords
go to the server as SCRAM verifiers, so no plaintext reaches a server log even when
a statement fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from shopnet.errors import ConfigError
from shopnet.topology.model import Service, Topology
from shopnet.topology.wiring import DB_NAME

REDIS_ADMIN_USER = "shopnet-admin"

SCRAM_ITERATIONS = 4096


# -- Redis ---------------------------------------------------------------------


def key_pattern(prefix: str) -> str:
    """The glob of every key under `prefix` (its glob characters escaped): the ACL's key
    pattern and the restore's SCAN MATCH alike."""
    escaped = "".join(f"\\{c}" if c in "*?[]\\" else c for c in prefix)
    return f"{escaped}*"


def redis_prefixes(topology: Topology, redis: str) -> dict[str, str]:
    """Service → the key prefix it owns in the Redis datastore `redis` (its ACL user's keys)."""
    found: dict[str, str] = {}
    for service, use in topology.users_of(redis):
        if not use.key_prefix:
            raise ConfigError(
                f"service {service.name} uses {redis} without a key_prefix: its Redis user "
                "would have no keys"
            )
        found[service.name] = use.key_prefix
    return found


def redis_acl(
    prefixes: Mapping[str, str], passwords: Mapping[str, str], *, admin_password: str
) -> str:
    """The ACL file: rules apply left to right; `resetchannels` denies pub/sub.

    One user per service in `prefixes` (`redis_prefixes`), named after it, with its
    password from `passwords`; the admin may delete every one of their keys.
    """
    users = "".join(
        f"user {service} on #{_sha256(passwords[service])} resetkeys ~{key_pattern(prefix)} "
        "resetchannels -@all +@read +@write +@scripting +@connection -@dangerous +time\n"
        for service, prefix in sorted(prefixes.items())
    )
    deletable = " ".join(f"%W~{key_pattern(p)}" for _, p in sorted(prefixes.items()))
    return (
        "user default off resetkeys resetchannels -@all\n"
        + users
        + f"user {REDIS_ADMIN_USER} on #{_sha256(admin_password)} resetkeys {deletable} "
        "resetchannels -@all +@connection +flushall +info +eval +scan +unlink\n"
    )


def _sha256(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


# -- PostgreSQL ----------------------------------------------------------------


def schemas(topology: Topology) -> dict[str, str]:
    """Service → the PostgreSQL schema it owns (its `uses`)."""
    return {service.name: schema for service in topology.services if (schema := schema_of(service))}


def schema_of(service: Service) -> str | None:
    """The schema `service` declares in a PostgreSQL use (validation: one at most).

    A use names a datastore; only PostgreSQL uses carry a schema (load.validate)."""
    return next((use.schema for use in service.uses if use.schema), None)


def owner_role(schema: str) -> str:
    return f"{schema}_owner"


def login_role(service: str) -> str:
    return f"{service}_app"


def scram_verifier(password: str, *, salt: bytes | None = None) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677)."""
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = base64.b64encode
    return (
        f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt).decode()}"
        f"${b64(stored_key).decode()}:{b64(server_key).decode()}"
    )


def roles_sql(
    schemas: Mapping[str, str], passwords: Mapping[str, str], *, database: str = DB_NAME
) -> str:
    """Idempotent SQL (run as the superuser) giving each service in `passwords` its roles
    on its schema in `schemas` (`schemas(topology)`)."""
    lines = [
        "SET client_min_messages = warning;",
        f"REVOKE ALL ON DATABASE {database} FROM PUBLIC;",
        "REVOKE ALL ON SCHEMA public FROM PUBLIC;",
    ]
    for service, password in sorted(passwords.items()):
        schema = schemas[service]
        owner, login = owner_role(schema), login_role(service)
        verifier = scram_verifier(password)
        lines += [
            "DO $$ BEGIN",
            f"  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{owner}') THEN",
            f"    CREATE ROLE {owner} NOLOGIN; END IF;",
            f"  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{login}') THEN",
            f"    CREATE ROLE {login} LOGIN NOINHERIT; END IF;",
            "END $$;",
            f"ALTER ROLE {login} LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE"
            f" NOREPLICATION NOBYPASSRLS PASSWORD '{verifier}';",
            f"ALTER ROLE {login} SET search_path = {schema};",
            f"GRANT {owner} TO {login};",
            f"GRANT CONNECT ON DATABASE {database} TO {login};",
            f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {owner};",
            f"ALTER SCHEMA {schema} OWNER TO {owner};",
            # Tables made before these roles existed (an older stack's data) change hands;
            # identity sequences follow their tables.
            "DO $$ DECLARE t regclass; BEGIN",
            "  FOR t IN SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace",
            f"    WHERE n.nspname = '{schema}' AND c.relkind IN ('r', 'p', 'v', 'm')",
            f"      AND c.relowner <> '{owner}'::regrole LOOP",
            f"    EXECUTE format('ALTER TABLE %s OWNER TO {owner}', t);",
            "  END LOOP;",
            "END $$;",
            f"GRANT USAGE ON SCHEMA {schema} TO {login};",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {login};",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {login};",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema}"
            f" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {login};",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema}"
            f" GRANT USAGE, SELECT ON SEQUENCES TO {login};",
        ]
    return "\n".join(lines) + "\n"


# -- the services' side --------------------------------------------------------


def authenticated_environment(
    env: Mapping[str, str], service: Service, *, secret_file: Mapping[str, str]
) -> dict[str, str]:
    """`env` (from topology wiring) with the service's own credentials instead of the superuser's.

    `secret_file` maps "postgres"/"redis" to the path where this service finds its
    password (a host path, or /run/secrets/… in a container).
    """
    out = dict(env)
    if "DATABASE_URL" in out and (schema := schema_of(service)):
        out["DATABASE_URL"] = _with_user(out["DATABASE_URL"], login_role(service.name))
        out["DATABASE_PASSWORD_FILE"] = secret_file["postgres"]
        out["SHOPNET_DB_MIGRATION_ROLE"] = owner_role(schema)
    if "REDIS_URL" in out:
        out["REDIS_URL"] = _with_user(out["REDIS_URL"], service.name)
        out["REDIS_PASSWORD_FILE"] = secret_file["redis"]
    return out


def _with_user(url: str, user: str) -> str:
    """`url` with `user` and without any password."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))
