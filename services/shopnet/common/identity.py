"""Who a public caller is: admin and customer tokens (JWT, HS256), and how the gateway says so.

A stack has one signing key (random, in a 0600 file made at `up`); `shopnet token`
signs with it, and only the gateway verifies (PyJWT). Claims:

    sub   the customer's id (customer tokens), "admin" (admin tokens)
    role  "customer" or "admin"
    iss   "shopnet", aud "shopnet-api", iat, exp

The gateway passes the verified caller on in two header fields it sets itself and
drops from every client request, so an upstream reads them as the gateway's word:
X-Shopnet-Role (`admin` or `customer`) and X-Shopnet-Customer (a customer's id).
Upstreams trust them as they trust X-Forwarded-For: only the gateway reaches them
in netns and docker modes (the firewall, the networks); see docs/security.md.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jwt

from shopnet.common.private import check_private
from shopnet.errors import ConfigError

ROLE_HEADER = "X-Shopnet-Role"
CUSTOMER_HEADER = "X-Shopnet-Customer"
ADMIN = "admin"
CUSTOMER = "customer"
ISSUER = "shopnet"
AUDIENCE = "shopnet-api"
ALGORITHM = "HS256"
DEFAULT_TTL_SECONDS = 24 * 3600
KEY_BYTES = 32
_MIN_KEY_BYTES = 32

CUSTOMER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}\Z")
"""What a customer id may be (the order service's customer_id pattern)."""


class InvalidToken(Exception):
    """A token that is malformed, badly signed, expired or not ours (the message says which)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """A verified caller."""

    role: str
    customer: str | None = None

    @property
    def admin(self) -> bool:
        return self.role == ADMIN

    def header_lines(self) -> str:
        """The fields the gateway adds to the upstream request (CRLF-terminated lines)."""
        lines = f"{ROLE_HEADER}: {self.role}\r\n"
        if self.customer is not None:
            lines += f"{CUSTOMER_HEADER}: {self.customer}\r\n"
        return lines


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def read_key(path: str) -> bytes:
    """The signing key in `path` (hex); the file must not be readable by group or others."""
    try:
        info = os.stat(path)
        text = Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the token signing key {path}: {exc.strerror}") from None
    check_private(path, info)
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ConfigError(f"the token signing key in {path} is not hex") from None
    if len(key) < _MIN_KEY_BYTES:
        raise ConfigError(f"the token signing key in {path} is shorter than {_MIN_KEY_BYTES} bytes")
    return key


def issue(
    key: bytes,
    *,
    customer: str | None = None,
    ttl_seconds: float = DEFAULT_TTL_SECONDS,
    now: float | None = None,
) -> str:
    """An admin token (no `customer`) or a customer's token."""
    if customer is not None and not CUSTOMER_ID.match(customer):
        raise ValueError(f"customer id {customer!r} must match {CUSTOMER_ID.pattern}")
    issued = int(time.time() if now is None else now)
    claims = {
        "sub": customer if customer is not None else ADMIN,
        "role": CUSTOMER if customer is not None else ADMIN,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": issued,
        "exp": issued + int(ttl_seconds),
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


LEEWAY_SECONDS = 5
"""Clock skew allowed on exp and iat."""


def verify(key: bytes, token: str) -> Principal:
    """The caller `token` proves, or InvalidToken."""
    return _decode(key, token)[0]


def _decode(key: bytes, token: str) -> tuple[Principal, float]:
    """The caller and the time (epoch seconds) until which the token is accepted."""
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],  # never what the token's own header asks for
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["sub", "role", "exp", "iat", "iss", "aud"]},
            leeway=LEEWAY_SECONDS,
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from None
    role, subject, expires = claims["role"], claims["sub"], claims["exp"] + LEEWAY_SECONDS
    if role == ADMIN and subject == ADMIN:
        return Principal(ADMIN), expires
    if role == CUSTOMER and isinstance(subject, str) and CUSTOMER_ID.match(subject):
        return Principal(CUSTOMER, subject), expires
    raise InvalidToken("the token's role or subject is not one we issue")


class Verifier:
    """`verify` for one key, remembering the tokens it accepted until each one expires.

    A client sends the same token on every request; decoding and checking it (PyJWT: base64,
    JSON, HMAC, claims) costs about 20 µs, a third of the gateway's own CPU on a cache hit.
    The same string verified once under the same key gives the same answer until its exp,
    so an accepted token is looked up, not checked again — what Envoy's jwt_authn does with
    its jwt_cache_config. Rejected tokens are never remembered (each is checked in full),
    and the memory is bounded: the oldest entry goes when it is full.
    """

    def __init__(
        self, key: bytes, *, size: int = 4096, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = key
        self._size = size
        self._clock = clock
        self._accepted: dict[str, tuple[Principal, float]] = {}

    def __call__(self, token: str) -> Principal:
        known = self._accepted.get(token)
        if known is not None:
            principal, expires = known
            if self._clock() < expires:
                return principal
            del self._accepted[token]
        principal, expires = _decode(self._key, token)
        if len(self._accepted) >= self._size:
            del self._accepted[next(iter(self._accepted))]  # dicts keep insertion order
        self._accepted[token] = (principal, expires)
        return principal


def from_headers(role: str | None, customer: str | None) -> Principal | None:
    """The caller as the gateway described it (None: an anonymous request)."""
    if role == ADMIN:
        return Principal(ADMIN)
    if role == CUSTOMER and customer and CUSTOMER_ID.match(customer):
        return Principal(CUSTOMER, customer)
    return None
