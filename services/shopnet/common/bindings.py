"""Tokens bound to names, kept as digests: `name sha256-hex` lines.

The registry binds each service's registry token to the one service it may write
(shopnet.registry.admission); the product service binds each internal caller's token
to the caller (shopnet.common.internal). Whoever checks holds only SHA-256 digests, so
its file cannot be used to call anyone; a lookup by digest takes the same time however
much of a wrong token is right.
"""

from __future__ import annotations

import hashlib

from shopnet.errors import ConfigError

ANY = "*"
"""Bound to every name (the registry: any service; tests only, no stack renders it)."""


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse_bindings(text: str, path: str) -> dict[bytes, str]:
    """`service sha256-hex` lines → {digest: service} (blank lines and `#` comments skipped)."""
    bindings: dict[bytes, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        service, _, hexdigest = line.partition(" ")
        try:
            digest_ = bytes.fromhex(hexdigest.strip())
        except ValueError:
            digest_ = b""
        if not service or len(digest_) != 32 or digest_ in bindings:
            raise ConfigError(f"{path}, line {number}: expected `service sha256-hex`, once each")
        bindings[digest_] = service
    return bindings  # none at all: nobody may write (a registry alone in its stack)


BINDINGS_HEADER = "# name sha256(its token): that token is that name's, and no one else's\n"


def binding_line(service: str, token: str) -> str:
    """The line that binds `token` to `service`."""
    return f"{service} {digest(token).hex()}\n"
