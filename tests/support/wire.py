"""HTTP/1.1 on a raw connection, for tests of the public listener's own protocol
(shopnet.common.front_listener): pipelined requests, exact answer bytes, closes."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient


async def connect(client: TestClient) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    port = client.server.port
    assert port is not None
    return await asyncio.open_connection("127.0.0.1", port)


async def read_answer(
    reader: asyncio.StreamReader, *, head_only: bool = False
) -> tuple[int, dict[str, str], bytes]:
    """One answer with a Content-Length: (status, fields lower-cased, body)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode("latin-1").split("\r\n")
    fields = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
    size = 0 if head_only else int(fields.get("content-length", "0"))
    body = await reader.readexactly(size)
    return int(lines[0].split()[1]), fields, body


async def raw_answer(reader: asyncio.StreamReader, *, head_only: bool = False) -> bytes:
    """One answer as sent, but for its Date line (which two answers need not share)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = [line for line in head.split(b"\r\n") if not line.startswith(b"Date:")]
    length = next(
        (int(line.split(b":")[1]) for line in lines if line.startswith(b"Content-Length")), 0
    )
    body = b"" if head_only else await reader.readexactly(length)
    return b"\r\n".join(lines) + body


async def until_closed(reader: asyncio.StreamReader, wait: float = 5) -> tuple[bytes, float]:
    started = time.monotonic()
    data = await asyncio.wait_for(reader.read(), wait)
    return data, time.monotonic() - started


def count_aiohttp_requests(
    monkeypatch: pytest.MonkeyPatch, *, skip: tuple[str, ...] = ()
) -> list[str]:
    """The path of every request aiohttp's server makes a request object for from now on
    (what the listener's own protocol did not serve), but those starting with `skip`."""
    made: list[str] = []
    original = web.Application._make_request

    def counting(self, message, *args, **kwargs):
        if not skip or not message.path.startswith(skip):
            made.append(message.path)
        return original(self, message, *args, **kwargs)

    monkeypatch.setattr(web.Application, "_make_request", counting)
    return made
