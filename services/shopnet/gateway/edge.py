"""What the public edge accepts from clients and what it tells upstreams about them.

- **Client addresses.** A client's own `X-Forwarded-For` / `Forwarded` are not
  evidence: anyone can write them. They are replaced by the peer address the
  gateway saw, unless that peer is a configured trusted proxy
  (SHOPNET_GATEWAY_TRUSTED_PROXIES), whose chain is kept and extended.
- **Header sizes.** Upstreams parse with aiohttp's default limits (8190 bytes per
  request line and per header name or value), and answer a plain-text 400 past
  them. The gateway parses with roomier limits (`PARSER_HEADROOM` times the
  forwarding limit) and refuses, as JSON, anything it could not forward: 414 for
  a request target, 431 for a header field or the whole head.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, ip_address

from shopnet.common.http import ApiError
from shopnet.errors import ConfigError

PARSER_HEADROOM = 4
"""The gateway's own parser accepts this many times the forwarding limits, so oversized
requests reach the check below and get a JSON answer instead of aiohttp's text."""


class UriTooLong(ApiError):
    status, code = 414, "uri_too_long"


class HeaderFieldsTooLarge(ApiError):
    status, code = 431, "header_fields_too_large"


def parse_networks(text: str) -> tuple[IPv4Network, ...]:
    """`10.0.0.0/8, 172.20.0.1` → networks (SHOPNET_GATEWAY_TRUSTED_PROXIES)."""
    try:
        return tuple(IPv4Network(part.strip()) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise ConfigError(f"SHOPNET_GATEWAY_TRUSTED_PROXIES: {exc}") from None


def parser_limits(max_field_bytes: int) -> dict[str, int]:
    """aiohttp AppRunner options for the gateway's own request parser."""
    roomy = max_field_bytes * PARSER_HEADROOM
    return {"max_line_size": roomy, "max_field_size": roomy}


def check_head(
    raw_path: str | bytes,
    raw_headers: Iterable[tuple[bytes, bytes]],
    max_field: int,
    max_head: int,
) -> None:
    """414/431 unless every part of the request head fits what upstreams accept."""
    if len(raw_path) > max_field:
        raise UriTooLong(f"the request target is longer than {max_field} bytes")
    total = 0
    for name, value in raw_headers:
        size = len(name) + len(value)
        if len(value) > max_field or len(name) > max_field:
            raise HeaderFieldsTooLarge(
                f"header {name[:64].decode('latin-1')!r} is longer than {max_field} bytes"
            )
        total += size
    if total > max_head:
        raise HeaderFieldsTooLarge(f"the request headers exceed {max_head} bytes in total")


def forwarded_fields(
    peer: str,
    given: str | None,
    forwarded: str | None,
    trusted: tuple[IPv4Network, ...],
) -> str:
    """The `X-Forwarded-For` (and, from a trusted proxy, `Forwarded`) lines for upstreams,
    given the peer address and the caller's own X-Forwarded-For and Forwarded values."""
    if trusted and _is_trusted(peer, trusted):
        lines = f"X-Forwarded-For: {f'{given}, {peer}' if given else peer}\r\n"
        if forwarded:
            lines += f'Forwarded: {forwarded}, for="{peer}"\r\n'
        return lines
    return f"X-Forwarded-For: {peer}\r\n"


def _is_trusted(peer: str, trusted: tuple[IPv4Network, ...]) -> bool:
    try:
        address = ip_address(peer)
    except ValueError:
        return False
    return isinstance(address, IPv4Address) and any(address in net for net in trusted)
