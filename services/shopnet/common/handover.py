"""Handing a connection to aiohttp mid-stream (shopnet.common.front_listener).

httptools reports no byte positions, and the listener needs one when a connection
turns to aiohttp with earlier requests in the same bytes, or when it drops the requests
before an unfinished head: then fresh parsers, each fed one prefix of the bytes in one
call, find by bisection where that request starts (about log2(n) passes at the
parser's speed, not a Python call per byte).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httptools


class _Begins:
    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def on_message_begin(self) -> None:
        self.count += 1


def offset_of(index: int, buffer: bytes) -> int:
    """Where message `index` (0: the first) starts in `buffer`, which starts a message
    (its first byte: a message begins as its first byte is parsed); len(buffer) if it
    does not start there."""
    if index <= 0:
        return 0
    view = memoryview(buffer)
    if _begun(view) <= index:
        return len(buffer)
    low, high = 1, len(buffer)  # the shortest prefix that begins message `index`
    while low < high:
        middle = (low + high) // 2
        if _begun(view[:middle]) > index:
            high = middle
        else:
            low = middle + 1
    return low - 1


def _begun(data: memoryview) -> int:
    """How many messages begin in `data` (parsing stops at an error or an upgrade, which
    only a handed-over request, the last one looked for, can hold)."""
    begins = _Begins()
    parser = httptools.HttpRequestParser(begins)
    with contextlib.suppress(httptools.HttpParserError, httptools.HttpParserUpgrade):
        parser.feed_data(data)
    return begins.count


def hand_over(server: Any, transport: asyncio.Transport, data: bytes) -> None:
    """Give `transport` to a new aiohttp protocol of `server` (make_handler), as if it had
    just connected and sent `data`; it reads on from there."""
    handler = server.make_handler()
    transport.set_protocol(handler)
    handler.connection_made(transport)
    if data:
        handler.data_received(data)
    transport.resume_reading()
