"""Who may call which route, at what rate: the gateway's check before any upstream is tried.

    catalog (product) reads   GET/HEAD/OPTIONS: anyone; a given token must be valid
    catalog writes            an admin token (401 without a token, 403 for a customer's)
    orders                    a customer or admin token (401 without); which orders a
                              customer may touch is the order service's check

A verified caller goes upstream as X-Shopnet-Role / X-Shopnet-Customer
(shopnet.common.identity); the client's own values of those and its Authorization
field are never forwarded. Rate limits (shopnet.gateway.ratelimit) key customers on
their id and anonymous callers on their address; admins are not limited.
"""

from __future__ import annotations

from collections.abc import Iterable

from shopnet.common import identity
from shopnet.common.http import ApiError, Unauthorized
from shopnet.gateway.ratelimit import RateLimiter

PUBLIC_READS = frozenset({"GET", "HEAD", "OPTIONS"})
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="shopnet"'}


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class Access:
    """The checks for one route (see the module docstring)."""

    def __init__(
        self,
        key: bytes | None,
        limiter: RateLimiter,
        *,
        public_reads: bool,
    ) -> None:
        self._verify = identity.Verifier(key) if key is not None else None
        self._limiter = limiter
        self._public_reads = public_reads

    def admit(self, method: str, raw_headers: Iterable[tuple[bytes, bytes]], peer: str) -> str:
        """The header lines naming the verified caller (empty: anonymous), or an ApiError."""
        principal = self._principal(raw_headers)
        if principal is None:
            if not (self._public_reads and method in PUBLIC_READS):
                raise Unauthorized(
                    "this needs a token (Authorization: Bearer …)", headers=_CHALLENGE
                )
            self._limiter.take(f"addr:{peer}")
            return ""
        if self._public_reads and method not in PUBLIC_READS and not principal.admin:
            raise Forbidden("changing the catalog needs an admin token")
        if not principal.admin:
            self._limiter.take(f"customer:{principal.customer}")
        return principal.header_lines()

    def _principal(self, raw_headers: Iterable[tuple[bytes, bytes]]) -> identity.Principal | None:
        given = None
        for name, value in raw_headers:
            if name.lower() == b"authorization":
                if given is not None:
                    raise Unauthorized("more than one Authorization field", headers=_CHALLENGE)
                given = value
        if given is None:
            return None
        scheme, _, token = given.decode("latin-1").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Authorization must be `Bearer <token>`", headers=_CHALLENGE)
        if self._verify is None:
            raise Unauthorized("this gateway has no token key: it accepts no tokens")
        try:
            return self._verify(token.strip())
        except identity.InvalidToken as exc:
            raise Unauthorized(f"invalid token: {exc}", headers=_CHALLENGE) from None
