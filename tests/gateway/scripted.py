"""A raw HTTP/1.1 upstream on loopback whose answers are the bytes a test scripts.

aiohttp apps (conftest's `Upstream`) always answer well-formed HTTP; the upstream
client must also cope with what they never send: chunked bodies with trailers, bodies
ended by closing, interim 1xx answers, a connection closed instead of an answer,
answers that arrive too late. This is a real TCP server; each request it reads is
given to `script`, which returns what to do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Received:
    """One request as the upstream read it."""

    connection: int
    """Which accepted connection it came on (0, 1, …)."""
    number: int
    """Its position on that connection (0 for the first)."""
    method: str
    target: str
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes


@dataclass(frozen=True, slots=True)
class Reply:
    """What the upstream does with one request."""

    data: bytes = b""
    """Bytes to write (nothing: no answer at all)."""
    delay: float = 0.0
    """Seconds to wait before writing."""
    close: bool = False
    """Close the connection afterwards."""


def answer(
    body: bytes = b"ok", *, status: int = 200, headers: tuple[str, ...] = (), version: str = "1.1"
) -> bytes:
    """A complete answer with a Content-Length."""
    head = [f"HTTP/{version} {status} X", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


Script = Callable[[Received], Reply | Awaitable[Reply]]


@dataclass
class ScriptedUpstream:
    script: Script
    port: int = 0
    accepted: int = 0
    open: int = 0
    seen: list[Received] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> ScriptedUpstream:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):  # Python 3.11's Server.close() leaves them
                writer.close()
            for task in list(self._tasks):  # e.g. one still sleeping before a late answer
                task.cancel()
            await asyncio.gather(*self._tasks)
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = self.accepted
        self.accepted += 1
        self.open += 1
        self._writers.add(writer)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            number = 0
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                received = Received(index, number, method, target, headers, body)
                self.seen.append(received)
                number += 1
                reply = self.script(received)
                if not isinstance(reply, Reply):
                    reply = await reply
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                if reply.data:
                    writer.write(reply.data)
                    await writer.drain()
                if reply.close:
                    return
        except (ConnectionError, asyncio.CancelledError):
            return  # (3.11's start_server logs a handler task that ends cancelled)
        finally:
            self.open -= 1
            self._writers.discard(writer)
            self._tasks.discard(task)
            writer.close()
