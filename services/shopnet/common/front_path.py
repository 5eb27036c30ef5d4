"""A service's side of the listener's own protocol (shopnet.common.front_listener).

The protocol knows HTTP/1.1 and the server's bounds; a service knows which requests
it serves there and how. A `FrontPath` is that service's side, kept small so the
gateway's proxy path (shopnet.gateway.paths) and the product's cache hit
(shopnet.product.front) share one protocol:

- `call` picks, from a parsed head, the requests it serves; None hands the request,
  and the rest of the connection, to aiohttp, which answers it as it always did;
- `answer` serves one, as bytes written by aiohttp's rules (shopnet.common.answer),
  or raises ApiError; `error` is the request middleware's JSON answer to that;
- `record` counts it with the route template the router would have named.

`install` puts a path on an app's public listener (FRONT_PROTOCOL) — unless the
access log is on: the protocol writes no access log lines, and a log that skipped the
hot path would mislead, so with SHOPNET_ACCESS_LOG aiohttp serves every request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute, UrlMappingMatchInfo

from shopnet.common.answer import serialise
from shopnet.common.app import CONFIG
from shopnet.common.front_listener import FrontProtocol
from shopnet.common.http import REQUEST_ID, ApiError, error_body
from shopnet.common.metrics import METRICS
from shopnet.common.protocol import FRONT_PROTOCOL

log = logging.getLogger("shopnet.http")

# Requests with these fields are aiohttp's: it answers `Expect:`, reads chunked bodies
# and refuses upgrades as it always did; it refuses the old websocket handshake.
_AIOHTTP_FIELDS = frozenset({b"expect", b"transfer-encoding", b"upgrade", b"sec-websocket-key1"})
# Fields aiohttp's request parser refuses to see twice (RFC 9110 singletons).
_SINGLETONS = frozenset(
    {
        b"content-length",
        b"content-location",
        b"content-range",
        b"content-type",
        b"etag",
        b"host",
        b"max-forwards",
        b"server",
        b"transfer-encoding",
        b"user-agent",
    }
)


MAX_HEAD = 64 * 1024
"""Most bytes of a request head on the listener's own protocol: a few full lines of the
server's per-field limit, not `max_headers` of them (100 × 32 KiB)."""


class FrontCall:
    """One request the protocol serves; a path's calls add what they need."""

    __slots__ = ("body", "given_id", "info", "keep_alive", "method", "started", "url")

    def __init__(
        self, method: str, url: str, keep_alive: bool, given_id: str | None, info: Any
    ) -> None:
        self.method, self.url, self.keep_alive, self.given_id = method, url, keep_alive, given_id
        self.info = info
        """The route's frozen match info (frozen_match_info): what the metrics name."""
        self.body: bytes | None = None
        """Set by the protocol when the request has one."""
        self.started = 0.0
        """perf_counter() when it began to be served (the latency metric's start)."""


class FrontPath(Protocol):
    """A service's side of the protocol (see the module's docstring)."""

    max_line: int
    """Longest request target (the parser's limit: a JSON 400 beyond)."""
    max_field: int
    """Longest header name or value."""
    max_headers: int
    """Most header fields in one request (a JSON 431 beyond)."""
    max_head: int
    """Most bytes in one request head, line and fields (a JSON 431 beyond)."""

    def call(
        self,
        method: bytes,
        version: str,
        url: bytes,
        headers: list[tuple[bytes, bytes]],
        keep_alive: bool,
    ) -> Any:
        """The FrontCall to serve, or None when aiohttp is to answer the request."""

    async def answer(
        self, call: Any, peer: str, request_id: str, keep_alive: Callable[[], bool]
    ) -> tuple[int, bytes]:
        """(status, the whole answer as bytes), or an ApiError.

        `keep_alive()`, asked once the answer is ready, says whether the connection
        stays open after it (a drain may have begun while it was awaited)."""

    def error(self, exc: ApiError, request_id: str, call: Any, keep_alive: bool) -> bytes:
        """The request middleware's JSON answer to `exc`."""

    def record(self, call: Any, status: int) -> None:
        """Count the answered request (ServiceMetrics.record)."""


def scan_fields(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, int] | None:
    """(the caller's X-Request-ID, the Content-Length or 0) of an HTTP/1.1 request head;
    None when aiohttp is to answer it: a field it handles itself, or a head its parser
    refuses (no Host, a singleton field twice) — then it answers its 400 as always."""
    given_id = None
    length = 0
    seen: set[bytes] = set()
    for name, value in headers:
        lower = name.lower()
        if lower in _SINGLETONS:
            if lower in seen:
                return None
            seen.add(lower)
            if lower == b"content-length":
                length = int(value)
        elif lower == b"x-request-id" and given_id is None:  # aiohttp's headers.get()
            given_id = value.rstrip(b" \t").decode("utf-8", "surrogateescape")
        if lower in _AIOHTTP_FIELDS:
            return None
    if b"host" not in seen:
        return None
    return given_id, length


def frozen_match_info(app: web.Application, route: AbstractRoute) -> UrlMappingMatchInfo:
    """What the router would attach for `route`, built once: frozen, so it can be shared."""
    info = UrlMappingMatchInfo({}, route)
    info.add_app(app)
    info.freeze()
    return info


class Seen:
    """What ServiceMetrics.record reads of a request and its response."""

    __slots__ = ("match_info", "method", "status")

    def __init__(self, info: Any, method: str, status: int) -> None:
        self.match_info, self.method, self.status = info, method, status


def json_error(exc: ApiError, request_id: str, head_only: bool, keep_alive: bool) -> bytes:
    """The request middleware's JSON answer to `exc` (shopnet.common.http), as bytes."""
    if exc.status >= 500:
        log.warning("%s: %s", exc.code, exc.message)
    body = error_body(exc.code, exc.message, request_id, exc.details)
    fields = [
        *exc.headers.items(),
        ("Content-Type", "application/json"),
        (REQUEST_ID, request_id),
    ]
    return serialise(exc.status, fields, b"", body, head_only, keep_alive)


class BasePath:
    """What every FrontPath shares: the head bounds the aiohttp server was given (its
    AppRunner's options, so a head too long for one is too long for the other), the
    request middleware's JSON errors, and the request metrics by route."""

    def __init__(self, app: web.Application, server_options: dict[str, Any]) -> None:
        self.max_line: int = server_options.get("max_line_size", 8190)
        self.max_field: int = server_options.get("max_field_size", 8190)
        self.max_headers: int = server_options.get("max_headers", 100)
        self.max_head: int = MAX_HEAD
        self._record = app[METRICS].record

    def error(self, exc: ApiError, request_id: str, call: FrontCall, keep_alive: bool) -> bytes:
        """The request middleware's JSON answer to `exc`."""
        return json_error(exc, request_id, call.method == "HEAD", keep_alive)

    def record(self, call: FrontCall, status: int) -> None:
        """Count the answered request under its route (ServiceMetrics.record)."""
        seen = Seen(call.info, call.method, status)
        # Seen stands in for the request and the response: it has the fields record() reads.
        self._record(seen, seen, call.started)  # type: ignore[arg-type]


def install(app: web.Application, build: Callable[[dict[str, Any]], FrontPath]) -> bool:
    """Serve `build(parser limits)` on `app`'s public listener (FRONT_PROTOCOL), built with
    the first connection, once the app is frozen; not when the access log is on.

    Returns whether it was installed."""
    if app[CONFIG].access_log:
        return False
    built: list[FrontPath] = []

    def make(server: Any) -> FrontProtocol:
        if not built:
            built.append(build(server._kwargs))
        return FrontProtocol(server, built[0])

    app[FRONT_PROTOCOL] = make
    return True
