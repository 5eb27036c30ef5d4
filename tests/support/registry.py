"""The registry token tests hand to registering services (a file, as in a stack), and the
bindings file registries get: TOKEN bound to `*` (any service), which no stack renders —
tests/registry/test_admission.py checks the per-service bindings stacks use."""

from __future__ import annotations

import os
from pathlib import Path

from shopnet.common.bindings import ANY, binding_line

TOKEN = "test-registry-token-not-a-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def write_token_file(directory: Path) -> str:
    """A 0600 token file in `directory`; its path, for SHOPNET_REGISTRY_TOKEN_FILE. Beside
    it, `bindings_of(path)` binds it to every service (SHOPNET_REGISTRY_TOKENS_FILE)."""
    path = directory / "registry-token"
    _write(path, TOKEN + "\n")
    _write(directory / "registry-tokens", binding_line(ANY, TOKEN))
    return str(path)


def bindings_of(token_file: str) -> str:
    """The bindings file written beside `token_file` by write_token_file."""
    return str(Path(token_file).with_name("registry-tokens"))


def write_bindings(directory: Path, tokens: dict[str, str]) -> str:
    """A bindings file for `tokens` (service → token); its path."""
    path = directory / "registry-tokens"
    _write(path, "".join(binding_line(service, token) for service, token in tokens.items()))
    return str(path)


def _write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
