"""Each service's Secret: the files docker mode mounts, generated here, written only 0600.

The same files as docker and swarm mode (shopnet_docker.secretfiles): a PostgreSQL
role and Redis user per service, the roles SQL and ACL file for the datastores, a
registry token per service and the registry's bindings of their digests, order's
internal token and product's digest of it, the gateway's token signing key. They are
made in `DIR/.secrets/` (a SecretStore: 0700 folders, 0600 files), so rendering again
into the same directory keeps every value (PostgreSQL takes its superuser password
once, when it initialises its volume), and go into `10-secret.yaml` (0600, created that
way) and nowhere else: never onto stdout, never into the other manifests, which refer
to each Secret by name only.
"""

from __future__ import annotations

import base64
import os
import pwd
from pathlib import Path
from typing import Any

from shopnet.runtime.secrets import RUNTIME, SecretStore
from shopnet.runtime.users import User
from shopnet.topology.model import Topology
from shopnet_docker import secretfiles
from shopnet_k8s import objects

SECRET_FILE = "10-secret.yaml"
STORE_DIR = ".secrets"
SUPERUSER = "postgres-superuser"


def service_secrets(topology: Topology, *, namespace: str, directory: Path) -> list[dict[str, Any]]:
    """One Secret per service that has files, their values kept in `directory`/.secrets."""
    store = SecretStore(directory / STORE_DIR)
    me = User(_my_name(), os.geteuid(), os.getegid())
    superuser = store.get(RUNTIME, SUPERUSER)
    secretfiles.write(store, topology, superuser_password=superuser, user_of=lambda _: me)
    documents = []
    for service in topology.start_order():
        files = secretfiles.of_service(topology, service)
        if not files:
            continue
        data = {
            f.key: base64.b64encode(store.path(f.owner, f.name).read_bytes()).decode()
            for f in files
        }
        documents.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": objects.metadata(
                    objects.secret_name(topology, service),
                    namespace,
                    objects.labels(topology, service),
                ),
                "type": "Opaque",
                "data": data,
            }
        )
    return documents


def _my_name() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable by its owner only from the first byte on."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as file:
        os.fchmod(fd, 0o600)  # a file that existed keeps its mode through O_CREAT
        file.write(text)
