"""The gateway's proxy path on the listener's own protocol (shopnet.common.front_listener).

`ProxyPath.call` decides, from a parsed head, whether the request is one the
protocol serves (a route prefix, nothing unusual) — anything else is aiohttp's;
`ProxyPath.answer` runs it through the route's forwarder (the same checks, retries
and relay as the aiohttp handler) and gives the answer as bytes; `error` is the
request middleware's JSON error; `record` counts the request with the route
templates the router would have named (ServiceMetrics.record).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute

from shopnet.common import front_path
from shopnet.common.front_path import (
    BasePath,
    FrontCall,
    frozen_match_info,
    scan_fields,
)
from shopnet.common.metrics import METRICS
from shopnet.gateway.keys import GATEWAY_CONFIG
from shopnet.gateway.proxy import Forwarder
from shopnet.gateway.relay import relay_bytes


class Call(FrontCall):
    """One request on the proxy path."""

    __slots__ = ("forwarder", "headers", "path", "query")

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
        super().__init__(method, url, keep_alive, given_id, info)
        self.path, self.query, self.headers = path, query, headers
        self.forwarder = forwarder


class ProxyPath(BasePath):
    """The route table as the protocol uses it (a FrontPath), built once per worker."""

    def __init__(
        self,
        app: web.Application,
        routes: list[tuple[str, AbstractRoute, AbstractRoute]],
        forwarders: dict[str, Forwarder],
        server_options: dict[str, int],
    ) -> None:
        super().__init__(app, server_options)
        # The gateway's parser is roomy so that its answer to a field upstreams would refuse
        # is a precise 414/431; this protocol answers those itself, at what is forwarded.
        cfg = app[GATEWAY_CONFIG]
        self.max_line = self.max_field = cfg.max_header_bytes
        self.max_head = max(self.max_head, cfg.max_head_bytes + 2 * cfg.max_header_bytes)
        self._table = tuple(
            (
                prefix,
                len(prefix),
                forwarders[prefix],
                frozen_match_info(app, exact),
                frozen_match_info(app, below),
            )
            for prefix, exact, below in routes
        )
        self._record = app[METRICS].record
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
        scanned = scan_fields(headers)
        if scanned is None:
            return None
        given_id, length = scanned
        if length > self._max_body:
            return None  # its 413, without reading the body, is aiohttp's
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

    async def answer(
        self, call: Call, peer: str, request_id: str, keep_alive: Callable[[], bool]
    ) -> tuple[int, bytes]:
        """The route's upstream's answer as the caller gets it (shopnet.gateway.relay);
        or an ApiError."""
        forwarder: Forwarder = call.forwarder
        forwarder.check_head(call.url, call.headers)
        method = call.method
        target = forwarder.raw_target(call.path, call.query)  # its 400 comes before any 401
        caller = forwarder.access.admit(method, call.headers, peer)
        start = f"{method} {target} HTTP/1.1\r\n".encode("ascii")
        body = call.body
        fields, repeatable = forwarder.request_fields(
            call.headers, method, body, peer, "http", caller
        )
        head_only = method == "HEAD"
        upstream, endpoint = await forwarder.forward(start, fields, body, head_only, repeatable)
        route = forwarder.route
        answer = relay_bytes(upstream, endpoint, head_only, route, request_id, keep_alive())
        return upstream.status, answer


def install(
    app: web.Application,
    routes: list[tuple[str, AbstractRoute, AbstractRoute]],
    forwarders: dict[str, Forwarder],
) -> None:
    """Serve `routes` on the public listener's own protocol (shopnet.common.front_path)."""
    front_path.install(app, lambda options: ProxyPath(app, routes, forwarders, options))
