"""Where a pipelined request starts, for handing a connection to aiohttp mid-stream.

httptools reports no byte positions, and the listener (shopnet.gateway.listener)
needs one only when a connection turns to aiohttp with earlier requests in the
same bytes: then a fresh parser, fed a byte at a time, finds it.
"""

from __future__ import annotations

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
