"""A token signing key for gateways under test, and the tokens it signs (shopnet.common.identity)."""

from __future__ import annotations

import os
from pathlib import Path

from shopnet.common import identity

KEY = bytes(range(32))
"""Tests' signing key: known, never a stack's (those are random, made at `up`)."""


def write_key_file(directory: Path) -> str:
    """A 0600 key file in `directory`; its path, for SHOPNET_GATEWAY_TOKEN_KEY_FILE."""
    path = directory / "token-key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(KEY.hex() + "\n")
    return str(path)


def bearer(customer: str | None = None, key: bytes = KEY) -> dict[str, str]:
    """The Authorization field of an admin (no `customer`) or a customer."""
    return {"Authorization": f"Bearer {identity.issue(key, customer=customer)}"}


ADMIN = bearer()
