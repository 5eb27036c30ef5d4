"""One keep-alive HTTP/1.1 connection to an upstream instance, one exchange at a time.

`Connection` is an `asyncio.Protocol`: `send` writes a request already serialised to
bytes (one `transport.write`) and returns a future for the whole answer, parsed by
httptools (llhttp, as in uvicorn). Answers are framed by Content-Length, chunked
encoding or the end of the connection; there is none to HEAD, nor with 204 or 304;
interim 1xx answers are skipped; `Connection: close` (or HTTP/1.0) makes the connection
not reusable; heads and bodies over the caps are refused.

Errors say how far the request got, which is what the gateway's retry rules need:

    UpstreamError
    ├── ConnectError          nothing was sent: refused, unreachable, connect timeout,
    │                         or no free slot within the connect time
    └── Disconnected          sent, then the connection broke or the answer was not HTTP
        └── AnswerTooLarge    the answer was over the size cap
    TimeoutError (builtin)    sent, but no complete answer within the try's time

A connection that failed or timed out aborts itself: a late answer on it would
otherwise be read as the next request's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import httptools


class UpstreamError(Exception):
    """A request to an upstream instance failed (see the module docstring)."""


class ConnectError(UpstreamError):
    """No connection to the instance: nothing was sent."""


class Disconnected(UpstreamError):
    """The request was sent, then the connection broke or the answer was not valid HTTP."""


class AnswerTooLarge(Disconnected):
    """The answer's head or body was over the client's limit."""


class Unanswered(Disconnected):
    """Closed before the first byte of an answer.

    On a reused connection this is the keep-alive race (see shopnet.gateway.client).
    """


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    """A complete answer, as received."""

    status: int
    headers: list[tuple[bytes, bytes]]
    """Header fields in order, as sent (trailer fields of a chunked body are dropped)."""
    body: bytes
    """The body, de-chunked; empty for HEAD, 204 and 304."""


MAX_ANSWER_BYTES = 64 << 20
"""Default cap on an answer's body: the gateway holds whole answers in memory."""

_MAX_HEAD_BYTES = 64 << 10


class Connection(asyncio.Protocol):
    """One TCP connection to an instance, carrying one exchange at a time."""

    __slots__ = (
        "_body",
        "_head_bytes",
        "_head_only",
        "_headers",
        "_headers_done",
        "_loop",
        "_max_body",
        "_on_lost",
        "_parser",
        "_received",
        "_size",
        "_status",
        "_timer",
        "_waiter",
        "idle_since",
        "open",
        "reusable",
        "transport",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        max_body: int,
        on_lost: Callable[[Connection], None],
    ) -> None:
        self._loop = loop
        self._max_body = max_body
        self._on_lost = on_lost  # told when the connection closes, e.g. to leave a pool
        self.transport: asyncio.Transport | None = None
        self.open = False
        self.reusable = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[UpstreamResponse] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._head_only = False
        self._received = False
        self._headers_done = False
        self._status = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0
        self._body: list[bytes] = []
        self._size = 0

    # -- the caller's side ----------------------------------------------------

    def send(
        self, data: bytes, body: bytes | None, *, head_only: bool, deadline: float
    ) -> asyncio.Future[UpstreamResponse]:
        """Write one request (`body` after `data`, when given); the future gets the whole
        answer by `deadline` (loop time), or fails (see the module docstring)."""
        loop = self._loop
        self._waiter = waiter = loop.create_future()
        # A fresh parser per exchange (0.2 µs): after HEAD, the old one would wait for
        # the body its Content-Length announced.
        self._parser = httptools.HttpResponseParser(self)
        self._head_only = head_only
        self._received = self._headers_done = self.reusable = False
        self._timer = loop.call_at(deadline, self._time_out)
        transport = self.transport
        assert transport is not None
        if transport.is_closing():  # closed after it was taken from the pool
            self._fail(Unanswered("the connection closed before the request went out"))
        elif body is None:
            transport.write(data)
        else:
            transport.writelines((data, body))
        return waiter

    def abort(self) -> None:
        """Drop the connection now (mid-exchange, or out of step with the upstream)."""
        self.open = self.reusable = False
        self._waiter = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        """Close an idle connection."""
        self.open = self.reusable = False
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: BaseException) -> None:
        waiter = self._waiter
        self.abort()
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _time_out(self) -> None:
        self._timer = None
        self._fail(TimeoutError())

    def _complete(self, keep_alive: bool) -> None:
        waiter = self._waiter
        self._waiter = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        body = self._body
        payload = b"" if not body else body[0] if len(body) == 1 else b"".join(body)
        self.reusable = keep_alive and self.open
        if waiter is not None and not waiter.done():
            waiter.set_result(UpstreamResponse(self._status, self._headers, payload))

    # -- asyncio.Protocol -----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio declares a BaseTransport; a TCP connection gets a full Transport (write, abort).
        self.transport = transport  # type: ignore[assignment]
        self.open = True  # TCP_NODELAY is already set by the event loop (asyncio, uvloop)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:
            self.abort()  # bytes nobody asked for: the upstream is out of step
            return
        self._received = True
        try:
            # The parser exists from connect(); no None check per chunk on the hot path.
            self._parser.feed_data(data)  # type: ignore[union-attr]
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            self._fail(cause if isinstance(cause, UpstreamError) else Disconnected(str(exc)))
        except httptools.HttpParserUpgrade:
            self._fail(Disconnected("the upstream switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(Disconnected(f"invalid HTTP answer: {exc}"))

    def eof_received(self) -> None:
        # Not reusable from now on; connection_lost follows (and ends a body that runs
        # to the end of the connection).
        self.open = self.reusable = False

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = self.reusable = False
        self._on_lost(self)
        if self._waiter is None:
            return
        if self._headers_done and self._status >= 200 and self._ends_with_connection():
            self._complete(keep_alive=False)
        elif not self._received:
            self._fail(Unanswered("the connection closed before any answer"))
        else:
            self._fail(Disconnected("the connection closed in the middle of the answer"))

    # -- httptools callbacks --------------------------------------------------

    def on_message_begin(self) -> None:
        if self._waiter is None:
            raise Disconnected("a second answer to one request")
        self._headers = []
        self._head_bytes = 0
        self._body = []
        self._size = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._headers_done:
            return  # a trailer field (after a chunked body)
        self._head_bytes += len(name) + len(value)
        if self._head_bytes > _MAX_HEAD_BYTES:
            raise AnswerTooLarge(f"answer head over {_MAX_HEAD_BYTES} bytes")
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self._parser
        assert parser is not None
        self._status = status = parser.get_status_code()
        if status < 200:
            return  # interim answer (103 Early Hints…): the final one follows
        self._headers_done = True
        if self._head_only:
            self._complete(parser.should_keep_alive())

    def on_body(self, data: bytes) -> None:
        if self._waiter is None:
            raise Disconnected("a body after the answer to HEAD")
        self._size += len(data)
        if self._size > self._max_body:
            raise AnswerTooLarge(f"answer body over {self._max_body} bytes")
        self._body.append(data)

    def on_message_complete(self) -> None:
        if self._waiter is None or self._status < 200:
            return  # HEAD's answer was complete at its head; or an interim answer
        # A message completed: the parser that parsed it exists.
        self._complete(self._parser.should_keep_alive())  # type: ignore[union-attr]

    def _ends_with_connection(self) -> bool:
        """Whether the body is delimited by the connection's end (no length, not chunked)."""
        if self._head_only or self._status in (204, 304):
            return False
        for name, _ in self._headers:
            if name.lower() in (b"content-length", b"transfer-encoding"):
                return False
        return True
