"""The public listener's own HTTP/1.1 protocol: a service's hot path without aiohttp's server.

aiohttp's server costs more per request than a hot path itself: a request object, a
stream writer, a response object, a head written through layers of coroutines.
`FrontProtocol` owns each public connection instead: httptools parses it, and what
the service's FrontPath (shopnet.common.front_path) chooses — the gateway's proxy
path, the product's GET /products/{id} — that path serves, one task per request,
answered as bytes by aiohttp's rules (shopnet.common.answer).

Everything else is handed to aiohttp *with the rest of the connection*: what the path
declines, a body that does not arrive with its head, `Upgrade`. Once the answers
before it are written, aiohttp's own protocol (BoundedRequestHandler) takes the
transport with the bytes from that request on (shopnet.common.handover) and parses,
routes and answers as it always did: the simplest split that keeps behaviour.

The edge's bounds are shared with aiohttp (shopnet.common.protocol): this protocol is
one of the server's connections, so the connection cap counts it, the head-timeout
sweep times its heads (JSON 408), the drain waits for its request in flight; line and
field limits are the server's (JSON 400 beyond).

Two bounds of its own keep one client's cost its own:

- backpressure: while the transport's write buffer is above its high-water mark
  (asyncio calls `pause_writing`), no further request is served, and while that lasts
  or more than `MAX_QUEUED` parsed requests wait, reading stops (`pause_reading`); it
  resumes once the buffer drained below the low-water mark and the queue is short.
  A client that pipelines without reading its answers holds one write buffer, not
  every answer (aiohttp's own writer awaits `drain()` for the same reason);
- a request head is bounded as a whole, as it arrives (`max_head` bytes and
  `max_headers` fields: a JSON 431 beyond), and its bytes are kept as the packets
  that brought them, joined once if the connection turns to aiohttp.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any, cast

import httptools

from shopnet.common.answer import serialise
from shopnet.common.handover import hand_over, offset_of
from shopnet.common.http import ApiError, error_body, new_request_id, request_id_from
from shopnet.common.logs import request_id_var
from shopnet.common.protocol import TIMED_OUT, TOO_MANY

MAX_QUEUED = 8
"""Parsed requests waiting for their turn before the connection stops reading."""
RESUME_QUEUED = 2
"""Reading resumes once no more than this many wait (and the write buffer drained)."""
WRITE_HIGH_WATER = 256 * 1024
"""Bytes of answers buffered for a slow reader before serving pauses (asyncio's
pause_writing); it resumes below WRITE_LOW_WATER."""
WRITE_LOW_WATER = 64 * 1024

if TYPE_CHECKING:
    from shopnet.common.front_path import FrontCall, FrontPath

log = logging.getLogger("shopnet.protocol")
http_log = logging.getLogger("shopnet.http")  # what the request middleware logs to

_HAND_OVER = object()
_CODES = {
    414: "uri_too_long",
    431: "header_fields_too_large",
}  # in the queue: aiohttp takes the connection from here


class _Stop(Exception):
    """Raised in a parser callback to stop parsing (the reason is on the protocol)."""


class FrontProtocol(asyncio.Protocol):
    """One public connection, served by `front` (see the module's docstring)."""

    head_started: float | None = None
    """When the request head being read began (the server's sweep answers 408)."""

    def __init__(self, server: Any, front: FrontPath) -> None:
        self._server = server
        self._front = front
        self._loop: asyncio.AbstractEventLoop = server._loop
        self._limits = server._limits
        self._transport: asyncio.Transport | None = None
        self._peer = ""
        self._parser = httptools.HttpRequestParser(self)
        self._queue: deque[Any] = deque()
        self._task: asyncio.Task[None] | None = None
        self._serving: FrontCall | None = None  # the task's call
        self._closing = False
        self._idle_since = 0.0
        self._keepalive: asyncio.TimerHandle | None = None
        # The packets since the last point known to start a message (kept, not joined,
        # while a head arrives), their size, and the messages begun since.
        self._chunks: list[bytes] = []
        self._size = 0
        self._begun = 0
        self._head_bytes = 0  # of the head being parsed, as its callbacks report them
        # Backpressure (see the module's docstring).
        self._writing_paused = False
        self._writing_paused_since = 0.0
        self._reading_paused = False
        self._hand_over: tuple[int, bytes] | None = None
        self._held: list[bytes] = []
        self._refusal = ""
        self._refusal_status = 400
        # The message being parsed.
        self._in_message = False
        self._call: FrontCall | None = None
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio declares a BaseTransport; a TCP connection gets a full Transport (uvloop's
        # TCPTransport is one by behaviour, not by class, so this is a cast, not a check).
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self._peer = peer[0] if isinstance(peer, tuple) else ""
        connections = self._server._connections
        connections[self] = transport
        if len(connections) > self._limits.max_connections:
            log.warning("connection refused: %d open", len(connections) - 1)
            self._finish_with(TOO_MANY)
            return
        self._idle_since = self._loop.time()
        self._transport.set_write_buffer_limits(high=WRITE_HIGH_WATER, low=WRITE_LOW_WATER)
        self._keepalive = self._loop.call_at(
            self._idle_since + self._limits.keepalive_timeout, self._check_idle
        )

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._transport is None:
            return  # handed over, or already gone
        self._transport = None
        self._server._connections.pop(self, None)
        if self._keepalive is not None:
            self._keepalive.cancel()
        self._queue.clear()
        self._chunks.clear()

    def pause_writing(self) -> None:
        self._writing_paused = True
        self._writing_paused_since = self._loop.time()
        self._pace_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._next()
        self._pace_reading()

    def data_received(self, data: bytes) -> None:
        if self._refusal:
            return  # read only while lingering after the refusal (see _linger)
        if self._hand_over is not None:
            self._held.append(data)
            return
        self._chunks.append(data)
        self._size += len(data)
        # A packet is parsed whole before anything in it is served, as aiohttp parses it:
        # when one of its requests is refused or goes to aiohttp, so do the ones before it
        # in the packet (aiohttp answers 400 to a packet with a malformed request in it, a
        # smuggling attempt's usual shape, and serves none of it).
        queued = len(self._queue)
        first = self._begun - 1 if self._in_message else self._begun
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            self._drop_since(queued)
            if self._refusal:
                self._refuse(self._refusal, self._refusal_status)
            else:
                self._hand_over_from(first)
        except httptools.HttpParserUpgrade:  # aiohttp's (the head is handed over first)
            self._hand_over_from(self._begun - 1)
        except httptools.HttpParserError as exc:
            self._drop_since(queued)
            self._refuse(str(exc) or type(exc).__name__)
        else:
            if not self._in_message:
                self._chunks.clear()
                self._size = self._begun = 0
            elif self._call is not None:  # the body is still coming: aiohttp bounds its time
                self._hand_over_from(self._begun - 1)
            elif self._size > self._front.max_head:
                self._bound_head()
        self._next()
        self._pace_reading()

    def _drop_since(self, queued: int) -> None:
        """Forget the requests queued since the queue was `queued` long (none has started:
        serving begins after the parser is done with a packet)."""
        while len(self._queue) > queued:
            self._queue.pop()

    def _bound_head(self) -> None:
        """The kept bytes outgrew a head: drop the messages before the unfinished one (found
        once, not per packet); 431 if that one alone is still too long."""
        if self._begun > 1:
            buffer = b"".join(self._chunks)
            start = offset_of(self._begun - 1, buffer)
            self._chunks = [buffer[start:]]
            self._size = len(buffer) - start
            self._begun = 1
        if self._size > self._front.max_head:
            self._refuse(f"the request head is longer than {self._front.max_head} bytes", 431)

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._begun += 1
        self._in_message = True
        self._url = b""
        self._headers = []
        self._head_bytes = 0
        if self._task is None:
            self.head_started = self._loop.time()

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_bytes += len(url)
        if len(self._url) > self._front.max_line:
            self._stop(f"the request target is longer than {self._front.max_line} bytes", 414)

    def on_header(self, name: bytes, value: bytes) -> None:
        front = self._front
        if len(name) > front.max_field or len(value) > front.max_field:
            self._stop(f"a header field is longer than {front.max_field} bytes", 431)
        self._headers.append((name, value))
        self._head_bytes += len(name) + len(value) + 4  # ": " and CRLF
        if len(self._headers) > front.max_headers:
            self._stop(f"more than {front.max_headers} header fields", 431)
        if self._head_bytes > front.max_head:
            self._stop(f"the request head is longer than {front.max_head} bytes", 431)

    def on_headers_complete(self) -> None:
        self.head_started = None
        parser = self._parser
        call = self._front.call(
            parser.get_method(),
            parser.get_http_version(),
            self._url,
            self._headers,
            parser.should_keep_alive(),
        )
        if call is None:
            raise _Stop  # aiohttp's to answer
        self._call = call
        self._body = []

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        call = self._call
        assert call is not None
        if self._body:
            call.body = b"".join(self._body)
        self._call = None
        self._in_message = False
        self._queue.append(call)

    # the answers, in order

    def _next(self) -> None:
        while self._task is None and self._queue and not self._writing_paused:
            item = self._queue.popleft()
            if item is _HAND_OVER:
                self._hand_over_now()
                return
            if isinstance(item, bytes):
                self._linger(item)
                return
            self._serving = item
            self._task = self._loop.create_task(self._serve(item))
        if self._task is None and not self._writing_paused:
            self._idle_since = self._loop.time()
            if self._in_message and self.head_started is None and self._call is None:
                self.head_started = self._idle_since  # a head that came while busy
            elif self._closing and not self._in_message:
                self._finish_with(b"")

    async def _serve(self, call: FrontCall) -> None:
        call.started = time.perf_counter()
        request_id = request_id_from(call.given_id)
        token = request_id_var.set(request_id)
        front = self._front
        try:
            status, answer = await front.answer(call, self._peer, request_id, self._keep_alive)
            keep_alive = self._keep_alive()
        except Exception as exc:
            error = exc if isinstance(exc, ApiError) else ApiError("internal error")
            if error is not exc:
                http_log.exception("unhandled error on %s %s", call.method, call.url)
            keep_alive = self._keep_alive() and error.headers.get("Connection") != "close"
            status, answer = error.status, front.error(error, request_id, call, keep_alive)
        finally:
            request_id_var.reset(token)
        front.record(call, status)
        self._task = None
        transport = self._transport
        if transport is None:
            return
        if keep_alive:
            transport.write(answer)
            self._next()
            self._pace_reading()
        else:
            self._finish_with(answer)

    def _keep_alive(self) -> bool:
        """Whether the connection stays open after the answer being written: the request
        asked for it and the server is not draining."""
        call = self._serving
        return call is not None and call.keep_alive and not self._closing

    def _finish_with(self, answer: bytes) -> None:
        """Write `answer` (if any) and close the connection."""
        transport = self._transport
        if transport is not None and not transport.is_closing():
            if answer:
                transport.write(answer)
            transport.close()

    def _pace_reading(self) -> None:
        """Stop reading while answers cannot be written or too many requests wait; read on
        once both eased (a refusal or a hand-over keeps reading stopped: see those)."""
        transport = self._transport
        if transport is None or self._refusal or self._hand_over is not None:
            return
        waiting = len(self._queue)
        if not self._reading_paused:
            if self._writing_paused or waiting >= MAX_QUEUED:
                self._reading_paused = True
                transport.pause_reading()
        elif not self._writing_paused and waiting <= RESUME_QUEUED:
            self._reading_paused = False
            transport.resume_reading()

    def _linger(self, answer: bytes) -> None:
        """Write a refusal, then read and drop what the client still sends for up to
        `lingering_time` before closing: closing with its bytes unread would reset the
        connection, and the refusal with it (aiohttp lingers the same way)."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        transport.write(answer)
        if not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        transport.resume_reading()
        self._loop.call_later(self._limits.lingering_time, self._finish_with, b"")

    def _stop(self, reason: str, status: int = 400) -> None:
        self._refusal, self._refusal_status = reason, status
        raise _Stop

    def _refuse(self, reason: str, status: int = 400) -> None:
        """A protocol error: our JSON 400 (414, 431 for a target or head too long) after the
        answers before it, then close."""
        self._refusal = reason = reason[:200]
        log.warning("protocol error: %s", reason, extra={"status": status, "peer": self._peer})
        code = _CODES.get(status, "bad_request")
        body = error_body(code, reason, new_request_id())
        fields = [("Content-Type", "application/json")]
        self._queue.append(serialise(status, fields, b"", body, False, False))
        self._chunks.clear()
        if self._transport is not None:
            self._transport.pause_reading()

    # handing the connection to aiohttp

    def _hand_over_from(self, index: int) -> None:
        buffer = b"".join(self._chunks)
        self._chunks.clear()
        self._hand_over = (index, buffer)
        self._queue.append(_HAND_OVER)
        if self._transport is not None:
            self._transport.pause_reading()

    def _hand_over_now(self) -> None:
        transport = self._transport
        assert self._hand_over is not None and transport is not None
        if self._closing:
            self._finish_with(b"")
            return
        index, buffer = self._hand_over
        data = buffer[offset_of(index, buffer) :] + b"".join(self._held)
        self._server._connections.pop(self, None)
        if self._keepalive is not None:
            self._keepalive.cancel()
        self._transport = None
        hand_over(self._server, transport, data)

    # bounds and draining (called by the server: shopnet.common.protocol)

    def head_timed_out(self) -> None:
        self.head_started = None
        log.warning(
            "request head timed out after %gs; closing the connection",
            self._limits.head_timeout,
            extra={"peer": self._peer},
        )
        self._finish_with(TIMED_OUT)

    def _check_idle(self) -> None:
        now = self._loop.time()
        if (
            self._writing_paused
            and now - self._writing_paused_since >= self._limits.keepalive_timeout
        ):
            log.warning(
                "answers unread for %gs; closing",
                self._limits.keepalive_timeout,
                extra={"peer": self._peer},
            )
            self._transport.abort()  # type: ignore[union-attr]
            return
        due = self._idle_since + self._limits.keepalive_timeout
        idle = self._task is None and not self._in_message and not self._queue
        if idle and now >= due:
            self._finish_with(b"")  # quietly, as aiohttp's keep-alive does
            return
        self._keepalive = self._loop.call_at(max(due, now + 0.1), self._check_idle)

    def close(self) -> None:
        """Stop after the request in flight (the server stops listening)."""
        self._closing = True
        if self._task is None and not self._queue:
            self._finish_with(b"")

    async def shutdown(self, timeout: float | None) -> None:
        """Wait up to `timeout` for the request in flight, then cancel it; close."""
        self._closing = True
        task = self._task
        if task is not None:
            await asyncio.wait({task}, timeout=timeout)
            if not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=timeout)
        self._finish_with(b"")
