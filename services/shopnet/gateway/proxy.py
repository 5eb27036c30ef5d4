"""Forwarding one request to an upstream instance, with retries, timeouts and outlier feedback.

Retry rules (nginx `proxy_next_upstream`, Traefik, Envoy's retry policy):

- a connect failure (refused, unreachable, connect timeout) is retried for every
  method: nothing was sent;
- after the request was sent, only requests that may be repeated are retried — safe
  methods (GET, HEAD, OPTIONS), and requests carrying an `Idempotency-Key` to a service
  that honours it (SHOPNET_GATEWAY_IDEMPOTENT_SERVICES: the order service; the product
  service ignores the key, so a retried write could answer 409/404 after a slow success)
  — on a timeout, a broken connection, or a 502/503/504 answer;
- any other answer is final, whatever its status (Traefik: once an upstream answered,
  the gateway does not second-guess it);
- each retry goes to an instance not tried yet, at most `retries` times, and never past
  the total timeout. Retrying happens here only: upstreams do not retry on our behalf.

Every try tells the upstream its time budget (X-Request-Budget-Ms, what is left of the
try's timeout), so an upstream that does several steps (the order service) can stop and
undo them before the gateway gives up on it; a caller's own value is dropped.

Every try reports to the pool (passive outlier ejection): connect errors, timeouts,
broken connections and 502/503/504 answers are failures, anything else a success — a
500 is an answer to that request (a malformed one can cause it), and counting it would
let a client eject healthy instances with requests of its own making.

This module is the hot path: per request it serialises the request head to bytes once
(from the raw header fields, as received), picks an instance, makes one call through
the gateway's own upstream client (shopnet.gateway.client) and builds one response,
its header fields passed as received (shopnet.gateway.relay);
everything else is precomputed, and nothing is logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from ipaddress import IPv4Network

from aiohttp import web
from yarl import URL

from shopnet.common import identity
from shopnet.common.http import (
    REQUEST_ID,
    BadGateway,
    BadRequest,
    GatewayTimeout,
    PayloadTooLarge,
    ServiceUnavailable,
)
from shopnet.common.logs import request_id_var
from shopnet.common.upstreams import UNAVAILABLE_STATUSES, Endpoint, UpstreamPool
from shopnet.common.validation import read_body
from shopnet.gateway.access import Access
from shopnet.gateway.client import UpstreamClient
from shopnet.gateway.config import GatewayConfig
from shopnet.gateway.connection import (
    AnswerTooLarge,
    ConnectError,
    Disconnected,
    UpstreamResponse,
)
from shopnet.gateway.edge import check_head, forwarded_fields, parse_networks
from shopnet.gateway.metrics import Failure, GatewayMetrics
from shopnet.gateway.relay import HOP_BY_HOP, connection_options, relay
from shopnet.gateway.routes import Route

# Never forwarded upstream: hop-by-hop fields; Host and Content-Length, which the
# client writes for the upstream; Expect, which the gateway answered by reading the
# body; and the fields the gateway sets itself (a caller's value must not survive
# next to ours).
_DROP_FROM_REQUEST = frozenset(
    name.encode()
    for name in HOP_BY_HOP
    | {
        "host",
        "content-length",
        "expect",
        "x-request-id",
        "x-request-budget-ms",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "forwarded",
        # The caller's token stays at the edge; the gateway says who it proved to be.
        "authorization",
        identity.ROLE_HEADER.lower(),
        identity.CUSTOMER_HEADER.lower(),
    }
)
_REPEATABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Methods whose requests carry a body by definition: without one they say
# `Content-Length: 0` rather than leave the upstream to guess (RFC 9110 §8.6).
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class Forwarder:
    """Sends requests for one route to the instances of its service."""

    def __init__(
        self,
        route: Route,
        pool: UpstreamPool,
        metrics: GatewayMetrics,
        cfg: GatewayConfig,
        access: Access,
    ) -> None:
        self.route = route
        self.access = access
        self.pool = pool
        self.client: UpstreamClient | None = None  # set while the app runs
        self._tries = 1 + cfg.retries
        self._total = cfg.total_timeout_seconds
        self._try_seconds = cfg.try_timeout_seconds
        self._connect_seconds = cfg.connect_timeout_seconds
        self._max_body = cfg.max_body_bytes
        self._errors = metrics.errors[route.service]
        self._retries = metrics.retries[route.service]
        self._prefix_length = len(route.prefix)
        self._upstream_prefix = route.upstream_prefix
        self._key_honoured = route.service in {
            name.strip() for name in cfg.idempotent_services.split(",")
        }
        self._trusted = parse_networks(cfg.trusted_proxies)
        self._max_field = cfg.max_header_bytes
        self._max_head = cfg.max_head_bytes

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The aiohttp handler for every path under the route's prefix (the public
        listener's own protocol, shopnet.gateway.paths, serves most requests instead)."""
        method = request.method
        raw_headers = request.raw_headers
        check_head(request.raw_path, raw_headers, self._max_field, self._max_head)
        target = self._target(request)  # its 400 comes before any 401
        caller = self.access.admit(method, raw_headers, request.remote or "")

        body = None
        if request.body_exists:
            length = request.content_length
            if length is not None and length > self._max_body:
                raise PayloadTooLarge(
                    f"request body is {length} bytes; the limit is {self._max_body}"
                )
            body = await read_body(request)  # bounded by client_max_size and a timeout

        start = f"{method} {target} HTTP/1.1\r\n".encode("utf-8", "surrogateescape")
        fields, repeatable = self.request_fields(
            raw_headers, method, body, request.remote or "", request.scheme, caller
        )
        head_only = method == "HEAD"
        upstream, endpoint = await self.forward(start, fields, body, head_only, repeatable)
        return relay(upstream, endpoint, head_only, self.route)

    def request_fields(
        self,
        raw_headers: Iterable[tuple[bytes, bytes]],
        method: str,
        body: bytes | None,
        peer: str,
        scheme: str,
        caller: str = "",
    ) -> tuple[bytes, bool]:
        """The header lines for the upstream (after Host) with the blank line that ends the
        head, and whether the retry rules let the request be sent twice.

        The caller's fields pass as the raw bytes they arrived as, less hop-by-hop ones;
        `caller` is the verified caller's lines (shopnet.gateway.access).
        """
        return _request_fields(
            raw_headers, method, body, self._key_honoured, self._trusted, peer, scheme, caller
        )

    async def forward(
        self,
        start: bytes,
        fields: bytes,
        body: bytes | None,
        head_only: bool,
        repeatable: bool,
    ) -> tuple[UpstreamResponse, Endpoint]:
        """Send the request (its start line and fields as bytes) to an instance, retrying as
        the rules above allow: the answer to relay and who gave it, or an ApiError."""
        client = self.client
        assert client is not None, "the gateway's upstream client is not started"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._total
        pool = self.pool
        tried: list[Endpoint] = []
        failure: Failure | None = None
        # The last 5xx answer, should every try fail.
        answer: tuple[UpstreamResponse, Endpoint] | None = None
        out_of_time = False

        for attempt in range(self._tries):
            endpoint = pool.pick(tried)
            if endpoint is None:
                break  # no instance at all, or every one has been tried
            remaining = deadline - loop.time()
            if remaining <= 0:
                out_of_time = True
                break
            clipped = remaining < self._try_seconds
            if attempt:
                self._retries.inc()
            tried.append(endpoint)
            try:
                upstream = await client.request(
                    endpoint,
                    start,
                    fields,
                    body,
                    head_only=head_only,
                    repeatable=repeatable,
                    timeout=remaining if clipped else self._try_seconds,
                    connect_timeout=self._connect_seconds,
                )
            except ConnectError:
                failure = Failure.CONNECT
            except TimeoutError:
                failure = Failure.TIMEOUT
                out_of_time = clipped
            except AnswerTooLarge as exc:
                pool.failed(endpoint)
                self._errors[Failure.DISCONNECT].inc()
                # Final: another instance would send the same oversized answer.
                raise BadGateway(f"{self.route.service}: {exc}") from None
            except Disconnected:
                failure = Failure.DISCONNECT
            else:
                status = upstream.status
                if status < 500:
                    pool.succeeded(endpoint)
                    return upstream, endpoint
                self._errors[Failure.STATUS_5XX].inc()
                if status not in UNAVAILABLE_STATUSES:
                    pool.succeeded(endpoint)  # it answered: the request's fault as likely
                    return upstream, endpoint
                pool.failed(endpoint)
                answer = upstream, endpoint
                if not (repeatable and status in UNAVAILABLE_STATUSES):
                    return answer
                continue
            pool.failed(endpoint)
            self._errors[failure].inc()
            if failure is not Failure.CONNECT and not repeatable:
                break  # it was sent: repeating it could apply it twice

        if answer is not None:
            return answer  # an instance did answer, if only with 502/503/504: pass that on
        service = self.route.service
        if out_of_time:
            raise GatewayTimeout(f"{service} did not answer within {self._total:g}s")
        if failure is None:
            raise ServiceUnavailable(f"no healthy instance of {service}", retry_after=1)
        if failure is Failure.TIMEOUT:
            raise GatewayTimeout(f"{service} did not answer within {self._try_seconds:g}s")
        if failure is Failure.CONNECT:
            raise BadGateway(f"could not connect to any instance of {service} ({len(tried)} tried)")
        raise BadGateway(f"{service} closed the connection without a complete answer")

    def check_head(self, raw_path: str | bytes, raw_headers: list[tuple[bytes, bytes]]) -> None:
        """414/431 unless the head fits what upstreams accept (shopnet.gateway.edge)."""
        check_head(raw_path, raw_headers, self._max_field, self._max_head)

    def raw_target(self, raw_path: str, query: str) -> str:
        """The upstream request target for a raw path known to be under the prefix and free
        of percent-escapes (the listener's fast path), and its raw query."""
        if _has_dot_segment(raw_path):
            raise BadRequest("the path must not contain '.' or '..' segments")
        target = self._upstream_prefix + raw_path[self._prefix_length :]
        return f"{target}?{query}" if query else target

    def _target(self, request: web.Request) -> str:
        """The upstream request target: the path with the prefix swapped, and the query.

        Bytes pass as the caller sent them (`a%2Fb` stays one segment), except that dot
        segments are refused: `/api/products/../metrics` must not reach an upstream's
        internal endpoints through an upstream that resolves them.
        """
        rel_url = request.rel_url
        if _has_dot_segment(rel_url.path):
            raise BadRequest("the path must not contain '.' or '..' segments")
        raw_path = rel_url.raw_path
        if raw_path.startswith(self.route.prefix):
            tail = raw_path[self._prefix_length :]
        else:  # the prefix itself came percent-encoded (`/api/%70roducts`)
            tail = URL.build(path=rel_url.path[self._prefix_length :]).raw_path
        target = self._upstream_prefix + tail
        query = rel_url.raw_query_string
        return f"{target}?{query}" if query else target


def _has_dot_segment(path: str) -> bool:
    return "/." in path and any(part in (".", "..") for part in path.split("/"))


_NOTED = frozenset({b"connection", b"host", b"x-forwarded-for", b"forwarded", b"idempotency-key"})


def _request_fields(
    raw_headers: Iterable[tuple[bytes, bytes]],
    method: str,
    body: bytes | None,
    key_honoured: bool,
    trusted: tuple[IPv4Network, ...],
    peer: str,
    scheme: str,
    caller: str,
) -> tuple[bytes, bool]:
    noted: dict[bytes, list[bytes]] = {}
    for name, value in raw_headers:
        lower = name.lower()
        if lower in _NOTED:
            noted.setdefault(lower, []).append(value)
    drop = _DROP_FROM_REQUEST
    connection = noted.get(b"connection")
    if connection:
        drop = drop | connection_options(connection)
    lines = [
        name + b": " + value + b"\r\n" for name, value in raw_headers if name.lower() not in drop
    ]
    given = noted.get(b"x-forwarded-for")
    forwarded = noted.get(b"forwarded")
    own = (
        f"{REQUEST_ID}: {request_id_var.get() or ''}\r\n"
        f"{forwarded_fields(peer, _first(given), _first(forwarded), trusted)}"
        f"X-Forwarded-Proto: {scheme}\r\n"
        f"{caller}"
    )
    host = _first(noted.get(b"host"))
    if host:
        own += f"X-Forwarded-Host: {host}\r\n"
    if body is not None:
        own += f"Content-Length: {len(body)}\r\n\r\n"
    elif method in _BODY_METHODS:
        own += "Content-Length: 0\r\n\r\n"
    else:
        own += "\r\n"
    lines.append(own.encode("utf-8", "surrogateescape"))
    repeatable = method in _REPEATABLE_METHODS or (
        key_honoured and b"idempotency-key" in noted and b"idempotency-key" not in drop
    )
    return b"".join(lines), repeatable


def _first(values: list[bytes] | None) -> str | None:
    # As aiohttp decodes header values, so the bytes go out unchanged.
    return values[0].decode("utf-8", "surrogateescape") if values else None
