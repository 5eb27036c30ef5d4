"""Handing a connection to aiohttp mid-stream (shopnet.common.front_listener).

httptools reports no byte positions, and the listener needs one only when a
connection turns to aiohttp with earlier requests in the same bytes: then a fresh
parser, fed a byte at a time, finds where the handed-over request starts.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools


class _Begins:
    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def on_message_begin(self) -> None:
        self.count += 1


def offset_of(index: int, buffer: bytes) -> int:
    """Where message `index` (0: the first) starts in `buffer`, which starts a message.

    httptools reports no positions, so a fresh parser is fed a byte at a time: only when
    a connection turns to aiohttp mid-pipeline, never on the proxy path.
    """
    if index <= 0:
        return 0
    begins = _Begins()
    parser = httptools.HttpRequestParser(begins)
    for offset in range(len(buffer)):
        parser.feed_data(buffer[offset : offset + 1])
        if begins.count > index:
            return offset
    return len(buffer)


def hand_over(server: Any, transport: asyncio.Transport, data: bytes) -> None:
    """Give `transport` to a new aiohttp protocol of `server` (make_handler), as if it had
    just connected and sent `data`; it reads on from there."""
    handler = server.make_handler()
    transport.set_protocol(handler)
    handler.connection_made(transport)
    if data:
        handler.data_received(data)
    transport.resume_reading()
