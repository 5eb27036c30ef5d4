"""Forwarding one request to an upstream instance, with retries, timeouts and outlier feedback.

Retry rules (nginx `proxy_next_upstream`, Traefik, Envoy's retry policy):

- a connect failure (refused, unreachable, connect timeout) is retried for every
  method: nothing was sent;
- after the request was sent, only requests that may be repeated are retried — safe
  methods (GET, HEAD, OPTIONS) and any request carrying an `Idempotency-Key` — on a
  timeout, a broken connection, or a 502/503/504 answer;
- any other answer is final, whatever its status (Traefik: once an upstream answered,
  the gateway does not second-guess it);
- each retry goes to an instance not tried yet, at most `retries` times, and never past
  the total timeout. Retrying happens here only: upstreams do not retry on our behalf.

Every try reports to the pool (passive outlier ejection): connect errors, timeouts,
broken connections and 5xx answers are failures, anything else a success.

This module is the hot path: per request it copies two header maps, picks an instance
and makes one client call; everything else is precomputed, and nothing is logged.
"""

from __future__ import annotations

import asyncio
import io

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from shopnet.common.http import (
    REQUEST_ID,
    BadGateway,
    BadRequest,
    GatewayTimeout,
    PayloadTooLarge,
    ServiceUnavailable,
)
from shopnet.common.logs import request_id_var
from shopnet.common.upstreams import Endpoint, UpstreamPool
from shopnet.gateway.config import GatewayConfig
from shopnet.gateway.metrics import Failure, GatewayMetrics
from shopnet.gateway.routes import Route

SERVED_BY = "X-Served-By"
IDEMPOTENCY_KEY = "Idempotency-Key"

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
# The client session sets Host and Content-Length for the upstream request itself, and
# the gateway has already answered any `Expect: 100-continue` by reading the body.
_DROP_FROM_REQUEST = HOP_BY_HOP | {"host", "content-length", "expect"}
# aiohttp computes Content-Length from the body it sends (kept for HEAD, which has none).
_DROP_FROM_RESPONSE = HOP_BY_HOP | {"content-length"}
_DROP_FROM_HEAD_RESPONSE = HOP_BY_HOP

_REPEATABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_RETRYABLE_STATUSES = frozenset({502, 503, 504})

# aiohttp writes larger bytes bodies in one go and warns about it; stream those instead.
_LARGE_BODY = 1 << 20

_CONNECT_ERRORS = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


def strip_hop_by_hop(headers: CIMultiDict[str], drop: frozenset[str]) -> None:
    """Remove hop-by-hop fields in place, including those the Connection field names."""
    connection = headers.get("Connection")
    if connection is not None:
        for token in connection.split(","):
            token = token.strip()
            if token and token in headers:
                del headers[token]
    for name in drop:
        if name in headers:
            del headers[name]


class Forwarder:
    """Sends requests for one route to the instances of its service."""

    def __init__(
        self,
        route: Route,
        pool: UpstreamPool,
        metrics: GatewayMetrics,
        cfg: GatewayConfig,
    ) -> None:
        self.route = route
        self.pool = pool
        self.session: aiohttp.ClientSession | None = None  # set while the app runs
        self._tries = 1 + cfg.retries
        self._total = cfg.total_timeout_seconds
        self._try_seconds = cfg.try_timeout_seconds
        self._connect_seconds = cfg.connect_timeout_seconds
        self._try_timeout = aiohttp.ClientTimeout(
            total=cfg.try_timeout_seconds, sock_connect=cfg.connect_timeout_seconds
        )
        self._max_body = cfg.max_body_bytes
        self._errors = metrics.errors[route.service]
        self._retries = metrics.retries[route.service]
        self._prefix_length = len(route.prefix)
        self._upstream_prefix = route.upstream_prefix

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The aiohttp handler for every path under the route's prefix."""
        session = self.session
        assert session is not None, "the gateway's client session is not started"
        method = request.method

        body = None
        if request.body_exists:
            length = request.content_length
            if length is not None and length > self._max_body:
                raise PayloadTooLarge(
                    f"request body is {length} bytes; the limit is {self._max_body}"
                )
            body = await request.read()  # bounded by the app's client_max_size

        target = self._target(request)

        headers = CIMultiDict(request.headers)
        strip_hop_by_hop(headers, _DROP_FROM_REQUEST)
        headers[REQUEST_ID] = request_id_var.get() or ""
        headers["X-Forwarded-For"] = _forwarded_for(request)
        headers["X-Forwarded-Host"] = request.host
        headers["X-Forwarded-Proto"] = request.scheme

        repeatable = method in _REPEATABLE_METHODS or IDEMPOTENCY_KEY in headers
        data: bytes | io.BytesIO | None = body
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._total
        pool = self.pool
        tried: list[Endpoint] = []
        failure: Failure | None = None
        answer: web.Response | None = None  # the last 5xx answer, should every try fail
        out_of_time = False

        for attempt in range(self._tries):
            endpoint = pool.pick(tried)
            if endpoint is None:
                break  # no instance at all, or every one has been tried
            remaining = deadline - loop.time()
            if remaining <= 0:
                out_of_time = True
                break
            timeout = self._try_timeout
            clipped = remaining < self._try_seconds
            if clipped:
                timeout = aiohttp.ClientTimeout(
                    total=remaining, sock_connect=min(self._connect_seconds, remaining)
                )
            if attempt:
                self._retries.inc()
            tried.append(endpoint)
            if body is not None and len(body) > _LARGE_BODY:
                data = io.BytesIO(body)  # a fresh stream for every try
            try:
                async with session.request(
                    method,
                    URL(endpoint.base_url + target, encoded=True),  # exactly as received
                    headers=headers,
                    data=data,
                    timeout=timeout,
                    allow_redirects=False,
                ) as upstream:
                    payload = await upstream.read()
            except _CONNECT_ERRORS:
                failure = Failure.CONNECT
            except TimeoutError:
                failure = Failure.TIMEOUT
                out_of_time = clipped
            except aiohttp.ClientError:
                failure = Failure.DISCONNECT
            else:
                if upstream.status < 500:
                    pool.succeeded(endpoint)
                    return _response(upstream, payload, endpoint, method)
                pool.failed(endpoint)
                self._errors[Failure.STATUS_5XX].inc()
                answer = _response(upstream, payload, endpoint, method)
                if not (repeatable and upstream.status in _RETRYABLE_STATUSES):
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


def _forwarded_for(request: web.Request) -> str:
    """The caller's X-Forwarded-For with the peer address appended."""
    peer = request.remote or ""
    given = request.headers.get("X-Forwarded-For")
    return f"{given}, {peer}" if given else peer


def _response(
    upstream: aiohttp.ClientResponse, payload: bytes, endpoint: Endpoint, method: str
) -> web.Response:
    # Response copies the headers once; the copy is then edited in place.
    response = web.Response(body=payload, status=upstream.status, headers=upstream.headers)
    headers = response.headers
    strip_hop_by_hop(headers, _DROP_FROM_HEAD_RESPONSE if method == "HEAD" else _DROP_FROM_RESPONSE)
    headers[SERVED_BY] = endpoint.id
    return response
