"""Bounds on what a client may cost a server, below the app: aiohttp's HTTP protocol with
a head timeout, a connection cap and JSON answers to protocol errors.

aiohttp alone lets a client hold a connection with a trickled request head for as long
as its keep-alive timer (about an hour by default) and accepts any number of
connections; its answers to malformed requests are plain text, logged with a traceback.
Here, per worker process:

- a request head must arrive within `head_timeout` once its first byte did (else a JSON
  408 and the connection is closed); an idle keep-alive connection closes after
  `keepalive_timeout`;
- past `max_connections` open connections, a new one gets a JSON 503 and is closed;
- request line and header fields are capped (aiohttp's parser answers 400 beyond);
- a protocol error (bad request line, oversized header…) is answered as our JSON error
  and logged as one WARNING line, without a traceback.

The body read timeout is the app's (shopnet.common.validation.read_body), where the
body is read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server

from shopnet.common.http import error_body, error_response, incoming_request_id

log = logging.getLogger("shopnet.protocol")

_Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]

_CODES = {400: "bad_request", 408: "request_timeout", 413: "payload_too_large"}


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientLimits:
    head_timeout: float
    """Seconds from a request head's first byte to its end."""
    keepalive_timeout: float
    """Seconds an idle keep-alive connection stays open."""
    max_connections: int
    """Open connections per worker process."""
    max_line_size: int = 8190
    """Longest request line or header line."""
    max_headers: int = 100
    """Most header fields in one request."""
    lingering_time: float = 1.0
    """After answering a request whose body was not read (a 408, a 413), how long the rest
    is drained before closing (aiohttp: 10 s, another slot for a trickling client)."""


def _raw_answer(status: int, reason: str, code: str, message: str) -> bytes:
    body = error_body(code, message, None)
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


TIMED_OUT = _raw_answer(
    408, "Request Timeout", "request_timeout", "the request head did not arrive in time"
)
TOO_MANY = _raw_answer(
    503, "Service Unavailable", "unavailable", "too many connections; retry later"
)


@runtime_checkable
class TimedHead(Protocol):
    """A connection whose request head the server's sweep times out: a
    BoundedRequestHandler, or a front protocol (shopnet.common.front_listener)."""

    head_started: float | None

    def head_timed_out(self) -> None: ...


class BoundedRequestHandler(RequestHandler):
    """aiohttp's protocol with the bounds above (one instance per connection).

    The hot path pays two attribute checks per packet: a head's first byte stamps the
    time, its end clears it, and one sweep per worker (`_BoundedServer`) every
    `head_timeout / 4` answers 408 to heads older than `head_timeout` — no timer per
    request.
    """

    _limits: ClientLimits
    head_started: float | None = None
    _heads_seen = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        manager = self._manager
        if manager is not None and len(manager.connections) > self._limits.max_connections:
            log.warning("connection refused: %d open", len(manager.connections) - 1)
            # asyncio declares a BaseTransport; a TCP connection gets a full Transport.
            transport.write(TOO_MANY)  # type: ignore[attr-defined]
            self.force_close()
            transport.close()

    def data_received(self, data: bytes) -> None:
        # Idle — between requests, or before the first — is when bytes start a head; while a
        # handler runs (no waiter) they are its body, or a pipelined head (not timed).
        waiter = self._waiter
        idle = (waiter is not None and not waiter.done()) or self._request_count == 0
        super().data_received(data)
        if self._request_count != self._heads_seen:
            self._heads_seen = self._request_count
            self.head_started = None
        elif idle and data and self.head_started is None:
            self.head_started = self._loop.time()

    def head_timed_out(self) -> None:
        self.head_started = None
        transport = self.transport
        log.warning(
            "request head timed out after %gs; closing the connection",
            self._limits.head_timeout,
            extra={"peer": _peer(transport)},
        )
        if transport is not None:
            transport.write(TIMED_OUT)
        self.force_close()
        if transport is not None:
            transport.close()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A protocol error (or an error escaping the app): our JSON shape, one log line."""
        if status >= 500:
            log.error("error handling a request: %s: %s", type(exc).__name__, exc)
            text = "internal error"
        else:
            text = (message or getattr(exc, "message", None) or str(exc) or "bad request")[:200]
            log.warning(
                "protocol error: %s", text, extra={"status": status, "peer": request.remote}
            )
        if request.writer.output_size > 0:
            raise ConnectionError("an answer was already started; closing instead")
        response = error_response(
            status,
            _CODES.get(status, "internal" if status >= 500 else "bad_request"),
            text,
            incoming_request_id(request),
        )
        response.force_close()
        return response


def _peer(transport: asyncio.BaseTransport | None) -> str:
    peer = transport.get_extra_info("peername") if transport is not None else None
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else ""


class _BoundedServer(Server):
    _limits: ClientLimits
    _sweep: asyncio.TimerHandle | None = None

    _front: Callable[[_BoundedServer], asyncio.Protocol] | None = None

    # aiohttp's Server returns its RequestHandler; ours may return the app's front protocol.
    def __call__(self) -> asyncio.Protocol:  # type: ignore[override]
        """A new connection's protocol: the app's FRONT_PROTOCOL's, or aiohttp's."""
        if self._sweep is None:
            self._schedule_sweep()
        front = self._front
        return front(self) if front is not None else self.make_handler()

    def make_handler(self) -> BoundedRequestHandler:
        """aiohttp's protocol under our bounds (a front protocol hands connections to it)."""
        handler = BoundedRequestHandler(self, loop=self._loop, **self._kwargs)
        handler._limits = self._limits
        return handler

    def _schedule_sweep(self) -> None:
        self._sweep = self._loop.call_later(self._limits.head_timeout / 4, self._sweep_heads)

    def _sweep_heads(self) -> None:
        """408 to every connection whose request head is older than the head timeout."""
        self._sweep = None
        oldest = self._loop.time() - self._limits.head_timeout
        for handler in self.connections:
            if not isinstance(handler, TimedHead):
                continue
            started = handler.head_started
            if started is not None and started <= oldest:
                handler.head_timed_out()
        if self.connections:
            self._schedule_sweep()


FRONT_HANDLER: web.AppKey[Callable[[_Handler], _Handler]] = web.AppKey("front_handler")
"""Optional: given the app's own request handler, the one its public listener runs
instead (e.g. the product service's remembered routes: shopnet.common.routes_memo)."""


FRONT_PROTOCOL: web.AppKey[Callable[..., asyncio.Protocol]] = web.AppKey("front_protocol")
"""Optional: given the listener's server, a protocol for a new public connection that
serves what it chooses and hands the rest to `server.make_handler()`
(shopnet.common.front_listener: the gateway's proxy path, the product's cache hit).
Only under a BoundedAppRunner, whose server also sweeps the protocol's heads
(`head_started`, `head_timed_out()`) and drains it (`close()`, `shutdown(timeout)`)
as one of its connections."""


class FrontAppRunner(web.AppRunner):
    """An AppRunner whose listener runs the app's FRONT_HANDLER, when it has one."""

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        front = self._app.get(FRONT_HANDLER)
        if front is not None:
            server.request_handler = front(server.request_handler)
        return server


class BoundedAppRunner(FrontAppRunner):
    """An AppRunner whose connections are BoundedRequestHandlers under `limits`."""

    def __init__(self, app: web.Application, *, limits: ClientLimits, **kwargs: Any) -> None:
        kwargs.setdefault("keepalive_timeout", limits.keepalive_timeout)
        kwargs.setdefault("max_line_size", limits.max_line_size)
        kwargs.setdefault("max_field_size", limits.max_line_size)
        kwargs.setdefault("max_headers", limits.max_headers)
        kwargs.setdefault("lingering_time", limits.lingering_time)
        super().__init__(app, **kwargs)
        self._limits = limits

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        server.__class__ = _BoundedServer  # same state, our protocol per connection
        # The server became a _BoundedServer by its __class__; mypy still sees a Server.
        server._limits = self._limits  # type: ignore[attr-defined]
        server._front = self._app.get(FRONT_PROTOCOL)  # type: ignore[attr-defined]
        return server
