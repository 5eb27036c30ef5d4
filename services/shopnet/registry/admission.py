"""Who may write to the registry, and what they may say about themselves.

Reads (lookups, watches, the catalog) stay open: the firewall (netns) or the
networks (docker) already limit who can reach the registry to the services the
topology lets talk to it. Writes are checked in three layers, in the spirit of
Consul's ACL tokens, where a service token may only write its own service:

1. **The service's token.** Register, heartbeat and deregister carry
   `Authorization: Bearer <token>`. Every service has a token of its own, made per
   stack by the runtime, kept in a 0600 file and handed to the service as a file
   *path* (SHOPNET_REGISTRY_TOKEN_FILE; docker: a secret), so it never shows in argv,
   the environment of `ps`, logs or `status`. Missing or unknown: 401. The registry
   knows only each token's SHA-256 and the service it is bound to
   (SHOPNET_REGISTRY_TOKENS_FILE: `service sha256-hex` lines), so its own file
   cannot be used to register anything; a token writes only instances of its own
   service (403 otherwise — a product token cannot register, renew or remove an
   order instance, nor take over an id held by one). `*` binds a token to every
   service: tests use it; no stack renders one.
2. **The registration secret.** A successful registration answers with a fresh
   random secret (the registry keeps only its SHA-256). Heartbeat, deregister and
   re-register of that id must send it back in `X-Registry-Secret`; anyone else —
   even with the stack token — gets 403 (409 for a register). So one compromised
   service cannot renew, replace or remove another's instances. An instance that
   lost its secret (a crash and restart) gets its id back once the old
   registration turned critical: its owner stopped heartbeating.
3. **The address.** The advertised address must be an IPv4 literal (no
   hostnames, no CR/LF, nothing link-local, loopback only when allowed), inside the
   subnets the topology gives that service (SHOPNET_REGISTRY_ALLOWED_SUBNETS), and —
   where the mode makes the peer observable, which is every mode we run: loopback
   in local mode, routed tiers in netns, and Docker's bridges, which do not NAT
   between containers — equal to the address the request came from. A service
   can only announce itself, never send traffic elsewhere.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from aiohttp import web

from shopnet.common.bindings import ANY, digest
from shopnet.common.http import ApiError, BadRequest
from shopnet.common.registry_client import SECRET_HEADER
from shopnet.errors import ConfigError

ANY_SERVICE = ANY
LINK_LOCAL = IPv4Network("169.254.0.0/16")


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class InsufficientStorage(ApiError):
    """A bound of the catalog is reached. 507 rather than 429: waiting and sending the
    same request again does not help until instances go away or the limit is raised."""

    status, code = 507, "insufficient_storage"


def parse_subnets(text: str) -> dict[str, tuple[IPv4Network, ...]]:
    """`gateway=172.20.0.0/24,172.21.0.0/24;product=172.21.0.0/24;*=127.0.0.0/8`."""
    allowed: dict[str, tuple[IPv4Network, ...]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        service, sep, nets = part.partition("=")
        try:
            if not sep or not service.strip():
                raise ValueError(part)
            allowed[service.strip()] = tuple(
                IPv4Network(n.strip()) for n in nets.split(",") if n.strip()
            )
        except ValueError:
            raise ConfigError(
                f"SHOPNET_REGISTRY_ALLOWED_SUBNETS: {part!r} is not service=cidr[,cidr...]"
            ) from None
    return allowed


@dataclass(frozen=True, slots=True)
class Admission:
    """The registry's write checks (see the module docstring)."""

    bindings: Mapping[bytes, str]
    """SHA-256 of each service's token → the service it may write (ANY_SERVICE: every one)."""
    allowed: Mapping[str, tuple[IPv4Network, ...]]
    """Subnets per service name; ANY_SERVICE applies to names not listed."""
    check_peer: bool = True
    """The advertised address must be the request's source address."""

    def require_token(self, request: web.Request) -> str:
        """The service the request's token is bound to; 401 without a known token."""
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        # A dict lookup by digest: its time does not depend on how much of a token is right.
        service = self.bindings.get(digest(given.strip())) if scheme.lower() == "bearer" else None
        if service is None:
            raise Unauthorized(
                "the registry token is missing or wrong",
                headers={"WWW-Authenticate": 'Bearer realm="shopnet-registry"'},
            )
        return service

    def check_service(self, bound: str, service: str | None) -> None:
        """403 unless a token bound to `bound` may write instances of `service`."""
        if service is not None and bound not in (ANY_SERVICE, service):
            raise Forbidden(f"this token writes only {bound!r} instances, not {service!r}")

    def check_address(self, service: str, address: str, peer: str | None) -> None:
        """400 for what is not an address we accept; 403 for an address not this caller's."""
        try:
            ip = IPv4Address(address)
        except ValueError:
            raise BadRequest(
                "address must be an IPv4 address in dotted-quad form", code="validation_failed"
            ) from None
        if ip in LINK_LOCAL or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
            raise BadRequest(f"address {ip} is not a unicast address", code="validation_failed")
        subnets = self.allowed.get(service, self.allowed.get(ANY_SERVICE, ()))
        if not any(ip in net for net in subnets):
            raise Forbidden(f"address {ip} is outside the subnets allowed for {service!r}")
        if self.check_peer and address != peer:
            raise Forbidden(f"address {ip} is not the address this request came from")


def new_secret() -> tuple[str, bytes]:
    """A registration secret and the digest the store keeps instead of it."""
    secret = secrets.token_urlsafe(24)
    return secret, digest(secret)


def presented_owner(request: web.Request) -> bytes:
    """The owner digest of the secret a request sends (b"" when it sends none)."""
    secret = request.headers.get(SECRET_HEADER)
    return digest(secret) if secret else b""
