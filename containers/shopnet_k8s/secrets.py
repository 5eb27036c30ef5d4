"""The database password as a Secret: generated here, written only to a 0600 file.

Chosen over a documented `kubectl create secret` step because the stack then
applies with one `kubectl apply -f DIR`, and the value never passes through argv
(`--from-literal`) or a shell history. The value is made by `secrets`, goes into
`10-secret.yaml` (mode 0600, created that way rather than chmod-ed later) and
nowhere else: never onto stdout, never into the other manifests, which only refer
to the Secret by name. Rendering again into the same directory keeps the password
in that file: PostgreSQL takes it once, when it initialises its volume.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from typing import Any

import yaml

from shopnet.errors import ConfigError
from shopnet.topology.model import Topology
from shopnet_k8s import objects

SECRET_FILE = "10-secret.yaml"


def generate_password() -> str:
    """192 random bits in hex: nothing to escape inside DATABASE_URL."""
    return secrets.token_hex(24)


def db_secret(topology: Topology, *, namespace: str, password: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": objects.metadata(
            objects.db_secret_name(topology), namespace, objects.labels(topology)
        ),
        "type": "Opaque",
        "data": {objects.DB_SECRET_KEY: base64.b64encode(password.encode()).decode()},
    }


def kept_password(path: Path) -> str | None:
    """The password in a Secret file rendered before, if there is one."""
    try:
        document = yaml.safe_load(path.read_text())
        encoded = document["data"][objects.DB_SECRET_KEY]
        return base64.b64decode(encoded, validate=True).decode()
    except FileNotFoundError:
        return None
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"{path} exists but holds no readable database password ({type(exc).__name__}); "
            "remove it to generate a new one"
        ) from None


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable by its owner only from the first byte on."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as file:
        os.fchmod(fd, 0o600)  # a file that existed keeps its mode through O_CREAT
        file.write(text)
