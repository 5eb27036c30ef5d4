"""What the listener's own protocol (shopnet.gateway.listener) does with one request.

`FrontPath.call` decides, from a parsed head, whether the request is one the
protocol serves (a route prefix, nothing unusual) — anything else is aiohttp's;
`FrontPath.answer` runs it through the route's forwarder (the same checks, retries
and relay as the aiohttp handler) and gives the answer as bytes; `error` is the
request middleware's JSON error; `record` counts the request with the route
templates the router would have named (ServiceMetrics.record).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.web_urldispatcher import ResourceRoute, UrlMappingMatchInfo

from shopnet.common.http import REQUEST_ID, ApiError, error_body
from shopnet.common.metrics import METRICS
from shopnet.common.protocol import FRONT_PROTOCOL
from shopnet.common.upstreams import Endpoint
from shopnet.gateway.answer import serialise
from shopnet.gateway.connection import UpstreamResponse
from shopnet.gateway.proxy import Forwarder
from shopnet.gateway.relay import relay_bytes

log = logging.getLogger("shopnet.http")

# Requests with these fields are aiohttp's: it answers `Expect:`, reads chunked bodies
# and refuses upgrades as it always did.
_AIOHTTP_FIELDS = frozenset({b"expect", b"transfer-encoding", b"upgrade"})


def match_info(app: web.Application, route: ResourceRoute) -> UrlMappingMatchInfo:
    """What the router would attach for `route`, built once: frozen, so it can be shared."""
    info = UrlMappingMatchInfo({}, route)
    info.add_app(app)
    info.freeze()
    return info


class Call:
    """One request the protocol serves."""

    __slots__ = (
        "body",
        "forwarder",
        "given_id",
        "headers",
        "info",
        "keep_alive",
        "method",
        "path",
        "query",
        "started",
        "url",
    )

    def __init__(
        self,
        method: str,
        url: str,
        path: str,
        query: str,
        headers: list[tuple[bytes, bytes]],
        keep_alive: bool,
        given_id: str | None,
        forwarder: Forwarder,
        info: Any,
    ) -> None:
        self.method, self.url, self.path, self.query = method, url, path, query
        self.headers, self.keep_alive, self.given_id = headers, keep_alive, given_id
        self.forwarder, self.info = forwarder, info
        self.body: bytes | None = None
        self.started = 0.0


class _Seen:
    """What ServiceMetrics.record reads of a request and its response."""

    __slots__ = ("match_info", "method", "status")

    def __init__(self, info: Any, method: str, status: int) -> None:
        self.match_info, self.method, self.status = info, method, status


class FrontPath:
    """The route table as the protocol uses it, built once per worker."""

    def __init__(
        self,
        app: web.Application,
        routes: list[tuple[str, ResourceRoute, ResourceRoute]],
        forwarders: dict[str, Forwarder],
        limits: dict[str, int],
    ) -> None:
        self._table = tuple(
            (
                prefix,
                len(prefix),
                forwarders[prefix],
                match_info(app, exact),
                match_info(app, below),
            )
            for prefix, exact, below in routes
        )
        self._record = app[METRICS].record
        self.max_line = limits.get("max_line_size", 8190)
        self.max_field = limits.get("max_field_size", 8190)
        self.max_headers = limits.get("max_headers", 100)
        self._max_body = app._client_max_size

    def call(
        self,
        method: bytes,
        version: str,
        url: bytes,
        headers: list[tuple[bytes, bytes]],
        keep_alive: bool,
    ) -> Call | None:
        """The request to serve, or None when aiohttp is to answer it."""
        if version != "1.1" or method == b"CONNECT" or not url.isascii():
            return None
        target = url.decode("ascii")
        path, _, query = target.partition("?")
        if not path.startswith("/") or "%" in path or "#" in target:
            return None  # aiohttp (yarl) decodes, normalises or refuses these
        routed = self._route(path)
        if routed is None:
            return None
        forwarder, info = routed
        given_id = None
        for name, value in headers:
            lower = name.lower()
            if lower in _AIOHTTP_FIELDS:
                return None
            if lower == b"content-length" and int(value) > self._max_body:
                return None  # its 413, without reading the body, is aiohttp's
            if lower == b"x-request-id" and given_id is None:
                given_id = value.decode("utf-8", "surrogateescape")
        return Call(
            method.decode("ascii"),
            target,
            path,
            query,
            headers,
            keep_alive,
            given_id,
            forwarder,
            info,
        )

    def _route(self, path: str) -> tuple[Forwarder, Any] | None:
        """The forwarder and match info for `path`, as the router would pick them."""
        for prefix, size, forwarder, exact, below in self._table:
            if not path.startswith(prefix):
                continue
            if len(path) == size:
                return forwarder, exact
            if path[size] == "/":
                return forwarder, below
            return None  # `/api/productsX`: the router's 404
        return None

    async def answer(self, call: Call, peer: str) -> tuple[UpstreamResponse, Endpoint]:
        """The route's upstream's answer, and who gave it; or an ApiError."""
        forwarder: Forwarder = call.forwarder
        forwarder.check_head(call.url, call.headers)
        method = call.method
        target = forwarder.raw_target(call.path, call.query)
        start = f"{method} {target} HTTP/1.1\r\n".encode("ascii")
        body = call.body
        fields, repeatable = forwarder.request_fields(call.headers, method, body, peer, "http")
        head_only = method == "HEAD"
        return await forwarder.forward(start, fields, body, head_only, repeatable)

    def relay(
        self,
        call: Call,
        upstream: UpstreamResponse,
        endpoint: Endpoint,
        request_id: str,
        keep_alive: bool,
    ) -> bytes:
        """The upstream's answer as the caller gets it, as bytes (shopnet.gateway.relay)."""
        head_only = call.method == "HEAD"
        route = call.forwarder.route
        return relay_bytes(upstream, endpoint, head_only, route, request_id, keep_alive)

    def error(self, exc: ApiError, request_id: str, call: Call, keep_alive: bool) -> bytes:
        """The request middleware's JSON answer to `exc`."""
        if exc.status >= 500:
            log.warning("%s: %s", exc.code, exc.message)
        body = error_body(exc.code, exc.message, request_id, exc.details)
        fields = [
            *exc.headers.items(),
            ("Content-Type", "application/json"),
            (REQUEST_ID, request_id),
        ]
        return serialise(exc.status, fields, b"", body, call.method == "HEAD", keep_alive)

    def record(self, call: Call, status: int) -> None:
        seen = _Seen(call.info, call.method, status)
        self._record(seen, seen, call.started)  # type: ignore[arg-type]


def install(
    app: web.Application,
    routes: list[tuple[str, ResourceRoute, ResourceRoute]],
    forwarders: dict[str, Forwarder],
    protocol: Callable[[Any, FrontPath], Any],
) -> None:
    """Serve `routes` on the public listener with `protocol` (FRONT_PROTOCOL); the path
    table is built with the first connection, once the app is frozen."""
    built: list[FrontPath] = []

    def make(server: Any) -> Any:
        if not built:
            built.append(FrontPath(app, routes, forwarders, server._kwargs))
        return protocol(server, built[0])

    app[FRONT_PROTOCOL] = make
