"""The registry token tests hand to registries and registering services (a file, as in a stack)."""

from __future__ import annotations

import os
from pathlib import Path

TOKEN = "test-registry-token-not-a-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def write_token_file(directory: Path) -> str:
    """A 0600 token file in `directory`; its path, for SHOPNET_REGISTRY_TOKEN_FILE."""
    path = directory / "registry-token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(TOKEN + "\n")
    return str(path)
