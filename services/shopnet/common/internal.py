"""Service-to-service endpoints: an optional shared token, read from a 0600 file.

The internal endpoints (e.g. the product service's stock reservations) are never routed
by the gateway: its routes map `/api/products…` to `/products…` only, and dot segments
are refused, so no public path reaches `/internal/…`. In netns and docker modes the
firewall/networks additionally let only the gateway and the order service reach a
product instance. The token closes the remaining gap — any process that can reach an
instance directly (local mode: everything on 127.0.0.1) — when a deployment sets
SHOPNET_INTERNAL_TOKEN_FILE for both sides. The secret stays out of argv and env.

A token per caller: each caller (its callee's ServiceSpec.internal_callers) has its own, in a 0600 file
(SHOPNET_INTERNAL_TOKEN_FILE); the serving side knows only their SHA-256 digests,
each bound to its caller (SHOPNET_INTERNAL_CALLERS_FILE, shopnet.common.bindings),
so it can tell who calls, and its own file lets no one call anything. Every mode
(local, netns, docker, Kubernetes) generates them per stack.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web

from shopnet.common.bindings import digest, parse_bindings
from shopnet.common.http import Unauthorized
from shopnet.common.private import check_private
from shopnet.errors import ConfigError

AUTHORIZATION = "Authorization"
CALLERS_FILE = "internal-callers"
TOKEN_FILE = "internal-token"
_MIN_TOKEN_LENGTH = 16


def read_token(path: str) -> str | None:
    """The token in `path` (None when no path is configured); the file must be 0600-ish."""
    if not path:
        return None
    try:
        info = os.stat(path)
        token = Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the internal token file {path}: {exc}") from None
    check_private(path, info)
    if len(token) < _MIN_TOKEN_LENGTH:
        raise ConfigError(f"the token in {path} is shorter than {_MIN_TOKEN_LENGTH} characters")
    return token


def read_callers(path: str) -> dict[bytes, str] | None:
    """The callers file in `path` (None when no path is configured); 0600-ish like a token."""
    if not path:
        return None
    try:
        info = os.stat(path)
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the internal callers file {path}: {exc}") from None
    check_private(path, info)
    return parse_bindings(text, path)


def require_caller(request: web.Request, callers: Mapping[bytes, str] | None) -> str | None:
    """The caller whose token the request carries; 401 for none (no check without callers)."""
    if callers is None:
        return None
    scheme, _, given = request.headers.get(AUTHORIZATION, "").partition(" ")
    caller = callers.get(digest(given.strip())) if scheme.lower() == "bearer" else None
    if caller is None:
        raise Unauthorized("this internal endpoint needs a caller's token")
    return caller


def bearer(token: str | None) -> dict[str, str]:
    """The header an internal client sends (none without a token)."""
    return {AUTHORIZATION: f"Bearer {token}"} if token else {}


def require_token(request: web.Request, token: str | None) -> None:
    """401 unless the request carries `token` (no check when none is configured)."""
    if token is None:
        return
    given = request.headers.get(AUTHORIZATION, "").encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(given, f"Bearer {token}".encode()):
        raise Unauthorized("this internal endpoint needs the service token")
