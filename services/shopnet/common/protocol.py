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
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server

from shopnet.common.http import error_body, error_response, incoming_request_id

log = logging.getLogger("shopnet.protocol")

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


_TIMED_OUT = _raw_answer(
    408, "Request Timeout", "request_timeout", "the request head did not arrive in time"
)
_TOO_MANY = _raw_answer(
    503, "Service Unavailable", "unavailable", "too many connections; retry later"
)


class BoundedRequestHandler(RequestHandler):
    """aiohttp's protocol with the bounds above (one instance per connection)."""

    _limits: ClientLimits
    _head_timer: asyncio.TimerHandle | None = None
    _armed_count = 0
    _partial = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        manager = self._manager
        if manager is not None and len(manager.connections) > self._limits.max_connections:
            log.warning("connection refused: %d open", len(manager.connections) - 1)
            transport.write(_TOO_MANY)  # type: ignore[attr-defined]
            self.force_close()
            transport.close()
            return
        self._arm()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._head_timer is not None:
            if self._request_count > self._armed_count:
                self._disarm()  # the head is complete
            elif data:
                self._partial = True

    async def _handle_request(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super()._handle_request(*args, **kwargs)
        finally:
            self._arm()  # the next request's head is timed from here

    def _arm(self) -> None:
        self._disarm()
        if self.transport is None or self._messages:
            return  # closed, or the next head is already here (pipelined)
        self._armed_count = self._request_count
        self._partial = False
        self._head_timer = self._loop.call_later(self._limits.head_timeout, self._head_due)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_due(self) -> None:
        self._head_timer = None
        if not self._partial:
            self._arm()  # idle: the keep-alive timer decides; a head that starts is timed
            return
        transport = self.transport
        log.warning(
            "request head timed out after %gs; closing the connection",
            self._limits.head_timeout,
            extra={"peer": _peer(transport)},
        )
        if transport is not None:
            transport.write(_TIMED_OUT)  # type: ignore[attr-defined]
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

    def __call__(self) -> RequestHandler:
        handler = BoundedRequestHandler(self, loop=self._loop, **self._kwargs)
        handler._limits = self._limits
        return handler


class BoundedAppRunner(web.AppRunner):
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
        server._limits = self._limits  # type: ignore[attr-defined]
        return server
