"""An upstream's answer, relayed to the caller with its header fields passed as bytes.

aiohttp writes a response head from a multidict of str: relaying an answer through
it means decoding every field the upstream sent, building the multidict, then
validating and encoding each field again. Most fields need none of that: they go
out exactly as they came in. So a `RelayedResponse` carries them as the bytes
received, and only the fields aiohttp itself consults or sets while it prepares the
head (Content-Type, Content-Length, Date, X-Request-ID — the request middleware
replaces the upstream's) and the ones the gateway rewrites (Location) stay in the
multidict. aiohttp still decides everything it decides today: the status line,
Content-Length and a default Content-Type, Date, `Server: shopnet`, Connection.

What never passes, as before: hop-by-hop fields (RFC 9110 §7.6.1) and those the
upstream's Connection lists, the upstream's Server, and its Content-Length unless
the answer is to a HEAD (which has no body to count).
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from shopnet.common.answer import (
    EMPTY_BODY_STATUSES,
    SERVER_LINE,
    date_line,
    serialise,
    set_field,
    status_line,
)
from shopnet.common.http import REQUEST_ID
from shopnet.common.upstreams import Endpoint
from shopnet.gateway.connection import UpstreamResponse
from shopnet.gateway.routes import Route

SERVED_BY = "X-Served-By"

# RFC 9110 §7.6.1 hop-by-hop fields, plus the non-standard Proxy-Connection.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# The gateway's response gets its Content-Length from the body it sends (the upstream's
# is kept for HEAD, which has none).
# An upstream's Server header is not ours to announce (the gateway sets its own).
_DROP = frozenset(name.encode() for name in HOP_BY_HOP | {"content-length", "server"})
_DROP_FOR_HEAD = frozenset(name.encode() for name in HOP_BY_HOP | {"server"})
# Fields aiohttp reads or sets while preparing a head, or the middleware sets: they go
# in the multidict, so each is there once, as today.
_CONSULTED = frozenset({b"content-type", b"content-length", b"date", b"x-request-id"})
_LOCATION_FIELDS = frozenset({b"location", b"content-location"})
# Answers that carry a Location to follow: created (201) and redirects.
_LOCATION_STATUSES = frozenset({201, 301, 302, 303, 307, 308})


def connection_options(values: Iterable[bytes]) -> frozenset[bytes]:
    """The field names Connection headers list (hop-by-hop too), lower-cased."""
    return frozenset(
        token.strip().lower() for value in values for token in value.split(b",") if token.strip()
    )


def _text(raw: bytes) -> str:
    # As aiohttp's own client decodes fields, so the bytes go out unchanged.
    return raw.decode("utf-8", "surrogateescape")


class RelayedResponse(web.Response):
    """A Response whose head also carries `passed`: header lines, as bytes, as received."""

    _passed: bytes = b""

    async def _write_headers(self) -> None:
        await super()._write_headers()
        if self._passed:
            writer = self._payload_writer
            # aiohttp's private head buffer (no API adds fields after serialising); the writer exists once the headers are written.
            head = writer._headers_buf  # type: ignore[union-attr]
            # The head aiohttp serialised ends with the blank line: the fields go before it.
            writer._headers_buf = head[:-2] + self._passed + b"\r\n"  # type: ignore[union-attr]


def _split(
    upstream: UpstreamResponse, head_only: bool, route: Route
) -> tuple[list[tuple[str, str]], bytes]:
    """The fields that go in the multidict (as str), and those passed as received."""
    drop = _DROP_FOR_HEAD if head_only else _DROP
    fields = upstream.headers
    connection = [value for name, value in fields if name.lower() == b"connection"]
    if connection:
        drop = drop | connection_options(connection)
    rewrite = upstream.status in _LOCATION_STATUSES
    headers: list[tuple[str, str]] = []
    passed = []
    for name, value in fields:
        lower = name.lower()
        if lower in drop:
            continue
        if lower in _CONSULTED:
            headers.append((_text(name), _text(value)))
        elif rewrite and lower in _LOCATION_FIELDS:
            headers.append((_text(name), route.public_location(_text(value))))
        else:
            passed.append(name + b": " + value + b"\r\n")
    return headers, b"".join(passed)


def relay(
    upstream: UpstreamResponse, endpoint: Endpoint, head_only: bool, route: Route
) -> RelayedResponse:
    """The caller's answer from the upstream's, served by `endpoint` (X-Served-By)."""
    headers, passed = _split(upstream, head_only, route)
    headers.append((SERVED_BY, endpoint.id))
    response = RelayedResponse(body=upstream.body, status=upstream.status, headers=headers)
    response._passed = passed
    return response


def relay_bytes(
    upstream: UpstreamResponse,
    endpoint: Endpoint,
    head_only: bool,
    route: Route,
    request_id: str,
    keep_alive: bool,
) -> bytes:
    """The same answer as `relay` gives once aiohttp and the request middleware have
    written it (X-Request-ID set, Content-Length, Date, Server…), as bytes.

    The common answer (no Location to rewrite, no Connection options, a status with a
    body) is written from the bytes received in one pass; the others as `relay` does.
    """
    status = upstream.status
    if status in _LOCATION_STATUSES or status in EMPTY_BODY_STATUSES:
        return _relay_generic(upstream, endpoint, head_only, route, request_id, keep_alive)
    drop = _DROP_FOR_HEAD if head_only else _DROP
    head = [status_line(status)]
    passed = []
    request_id_line = b"X-Request-ID: " + request_id.encode() + b"\r\n"
    seen: set[bytes] = set()
    for name, value in upstream.headers:
        lower = name.lower()
        if lower == b"connection":
            return _relay_generic(upstream, endpoint, head_only, route, request_id, keep_alive)
        if lower in drop:
            continue
        if lower in _CONSULTED:
            if lower == b"x-request-id":
                if lower not in seen:
                    head.append(request_id_line)  # where the upstream's was, as a multidict
            else:
                head.append(name + b": " + value + b"\r\n")
            seen.add(lower)
        else:
            passed.append(name + b": " + value + b"\r\n")
    head.append(b"X-Served-By: " + endpoint.id.encode() + b"\r\n")
    if b"x-request-id" not in seen:
        head.append(request_id_line)
    body = upstream.body
    if b"content-length" not in seen and (body or not head_only):
        head.append(b"Content-Length: %d\r\n" % len(body))
    if body and not head_only and b"content-type" not in seen:
        head.append(b"Content-Type: application/octet-stream\r\n")
    if b"date" not in seen:
        head.append(date_line())
    head.append(SERVER_LINE)
    if not keep_alive:
        head.append(b"Connection: close\r\n")
    head += passed
    head.append(b"\r\n")
    if body and not head_only:
        head.append(body)
    return b"".join(head)


def _relay_generic(
    upstream: UpstreamResponse,
    endpoint: Endpoint,
    head_only: bool,
    route: Route,
    request_id: str,
    keep_alive: bool,
) -> bytes:
    headers, passed = _split(upstream, head_only, route)
    headers.append((SERVED_BY, endpoint.id))
    set_field(headers, REQUEST_ID, request_id)
    return serialise(upstream.status, headers, passed, upstream.body, head_only, keep_alive)
