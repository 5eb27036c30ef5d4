"""A differential test of the public listener's own HTTP/1.1 protocol: each request of a
corpus of malformed and ambiguous ones (the smuggling classics HTTP Garden's findings
are made of: CL+TE, duplicate Content-Length, obs-fold, bare CR or LF, NUL, whitespace
before the colon, overlong fields, pipelines mixing them) is sent as raw bytes to the
gateway (our protocol, then aiohttp for what it hands over) and to a plain aiohttp
server. Both must answer with the same status classes, and the upstream behind the
gateway must receive nothing plain aiohttp refuses: every request it got, plain aiohttp
accepted, with the same method and body. Real sockets."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.gateway.conftest import Stack, Upstream
from tests.support import tokens

P = b"{path}"  # each case gets its own path: /api/products/case-<n>
GET = b"GET " + P + b" HTTP/1.1\r\nHost: x\r\n\r\n"
LONG = b"a" * 9000
# Writes need an admin: every well-formed Host line gets the admin's token before it, for
# both servers alike (no body in the corpus holds that line), so the comparison is of the
# parsers and not of the gateway's access rules.
HOST = b"\r\nHost: x\r\n"
WITH_TOKEN = b"\r\nAuthorization: " + tokens.ADMIN["Authorization"].encode() + HOST

CORPUS: list[tuple[str, bytes]] = [
    ("plain GET", GET),
    ("POST with a body", b"POST " + P + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"),
    ("CL then TE", b"POST " + P + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("TE then CL", b"POST " + P + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
     b"Content-Length: 4\r\n\r\n0\r\n\r\n"),
    ("duplicate CL, same", b"POST " + P + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
     b"Content-Length: 3\r\n\r\nabc"),
    ("duplicate CL, different", b"POST " + P + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
     b"Content-Length: 4\r\n\r\nabcd"),
    ("CL as a list", b"POST " + P + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc"),
    ("CL with a sign", b"POST " + P + b" HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc"),
    ("CL negative", b"POST " + P + b" HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
    ("CL in hex", b"POST " + P + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 0x3\r\n\r\nabc"),
    ("TE not chunked", b"POST " + P + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"),
    ("TE xchunked", b"POST " + P + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n"
     b"0\r\n\r\n"),
    ("TE chunked twice", b"POST " + P + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("TE in HTTP/1.0", b"POST " + P + b" HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
     b"\r\n0\r\n\r\n"),
    ("bad chunk size", b"POST " + P + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
     b"\r\nzz\r\nabc\r\n0\r\n\r\n"),
    ("chunk size with LF only", b"POST " + P + b" HTTP/1.1\r\nHost: x\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n"),
    ("obs-fold", b"GET " + P + b" HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n"),
    ("obs-fold of CL", b"POST " + P + b" HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n 3\r\n\r\nabc"),
    ("bare LF line ends", b"GET " + P + b" HTTP/1.1\nHost: x\n\n"),
    ("bare LF after a field", b"GET " + P + b" HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n"),
    ("bare CR in a value", b"GET " + P + b" HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"),
    ("bare CR ending a field", b"GET " + P + b" HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n"),
    ("NUL in a value", b"GET " + P + b" HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n"),
    ("NUL in a name", b"GET " + P + b" HTTP/1.1\r\nHost: x\r\nX\x00A: b\r\n\r\n"),
    ("NUL in the target", b"GET " + P + b"\x00 HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("space before the colon", b"GET " + P + b" HTTP/1.1\r\nHost : x\r\n\r\n"),
    ("tab before the colon", b"GET " + P + b" HTTP/1.1\r\nHost\t: x\r\n\r\n"),
    ("space before CL's colon", b"POST " + P + b" HTTP/1.1\r\nHost: x\r\nContent-Length : 3\r\n"
     b"\r\nabc"),
    ("space in a name", b"GET " + P + b" HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n"),
    ("non-token name", b"GET " + P + b" HTTP/1.1\r\nHost: x\r\nX@A: b\r\n\r\n"),
    ("empty name", b"GET " + P + b" HTTP/1.1\r\nHost: x\r\n: b\r\n\r\n"),
    ("no Host", b"GET " + P + b" HTTP/1.1\r\n\r\n"),
    ("two Hosts", b"GET " + P + b" HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"),
    ("overlong value", b"GET " + P + b" HTTP/1.1\r\nHost: x\r\nX-A: " + LONG + b"\r\n\r\n"),
    ("overlong name", b"GET " + P + b" HTTP/1.1\r\nHost: x\r\n" + LONG + b": b\r\n\r\n"),
    ("overlong target", b"GET " + P + b"?" + LONG + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("HTTP/1.2", b"GET " + P + b" HTTP/1.2\r\nHost: x\r\n\r\n"),
    ("HTTP/2.0", b"GET " + P + b" HTTP/2.0\r\nHost: x\r\n\r\n"),
    ("HTTP/0.9 line", b"GET " + P + b"\r\n\r\n"),
    ("lower-case version", b"GET " + P + b" http/1.1\r\nHost: x\r\n\r\n"),
    ("two spaces in the line", b"GET  " + P + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("tab in the line", b"GET\t" + P + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("lower-case method", b"get " + P + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("unknown method", b"FOO " + P + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("absolute-form target", b"GET http://x" + P + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("fragment in the target", b"GET " + P + b"#f HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("DEL in the target", b"GET " + P + b"\x7f HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("leading CRLF", b"\r\n" + GET),
    ("garbage", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n"),
    ("pipeline: two GETs", GET + GET),
    ("pipeline: GET, CL+TE", GET + b"POST " + P + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("pipeline: GET, bare LF", GET + b"GET " + P + b" HTTP/1.1\nHost: x\n\n"),
    ("pipeline: GET, obs-fold, GET", GET + b"GET " + P + b" HTTP/1.1\r\nHost: x\r\nX-A: a\r\n"
     b" b\r\n\r\n" + GET),
    ("pipeline: GET, NUL", GET + b"GET " + P + b" HTTP/1.1\r\nHost: x\r\nX-A: \x00\r\n\r\n"),
    ("pipeline: GET, duplicate CL", GET + b"POST " + P + b" HTTP/1.1\r\nHost: x\r\n"
     b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
    ("pipeline: a body that looks like a request", b"POST " + P + b" HTTP/1.1\r\nHost: x\r\n"
     b"Content-Length: 29\r\n\r\nGET /smuggled HTTP/1.1\r\nX: \r\n" + GET),
    ("pipeline: chunked, then GET", b"POST " + P + b" HTTP/1.1\r\nHost: x\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + GET),
    ("pipeline: GET, overlong value", GET + b"GET " + P + b" HTTP/1.1\r\nHost: x\r\nX-A: "
     + LONG + b"\r\n\r\n"),
]  # fmt: skip


async def exchange(port: int, data: bytes) -> list[int]:
    """Send `data` on a fresh connection; the statuses of the answers, in order, read until
    the connection closes or stays quiet for a while."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    received = b""
    deadline = time.monotonic() + 5
    try:
        while time.monotonic() < deadline:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), 0.4)
            except TimeoutError:
                break
            if not chunk:
                break
            received += chunk
    except ConnectionError:
        pass
    writer.close()
    return statuses(received)


def statuses(received: bytes) -> list[int]:
    """The status of every answer in `received` (heads with a Content-Length)."""
    found = []
    while received.startswith(b"HTTP/1."):
        head, _, rest = received.partition(b"\r\n\r\n")
        found.append(int(head.split(b" ", 2)[1]))
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        received = rest[length:]
    return found


def seen(upstream: Upstream, path: str) -> list[tuple[str, bytes]]:
    """(method, body) of every request `upstream` got for `path` (the gateway strips /api)."""
    return [
        (r["method"], r["body"]) for r in upstream.seen if r["path"].endswith(path.split("/")[-1])
    ]


@pytest.fixture
async def targets(
    stack: Stack, aiohttp_server
) -> tuple[TestClient, Upstream, TestServer, Upstream]:
    behind = await stack.upstream("product-1")
    gateway = await stack.gateway(expect={"product": 1})
    plain = Upstream("plain")
    server = await aiohttp_server(plain.app())  # aiohttp's own server, as it comes
    return gateway, behind, server, plain


async def test_our_protocol_answers_as_aiohttp_and_forwards_nothing_it_refuses(
    targets: tuple[TestClient, Upstream, TestServer, Upstream],
) -> None:
    gateway, behind, server, plain = targets
    our_port, plain_port = gateway.server.port, server.port
    assert our_port is not None and plain_port is not None

    async def one(n: int, data: bytes) -> tuple[list[int], list[int]]:
        path = f"/api/products/case-{n}".encode()
        raw = data.replace(P, path).replace(HOST, WITH_TOKEN)
        return await asyncio.gather(exchange(our_port, raw), exchange(plain_port, raw))

    results = await asyncio.gather(*(one(n, data) for n, (_, data) in enumerate(CORPUS)))
    differences = []
    for n, ((name, _), (ours, theirs)) in enumerate(zip(CORPUS, results, strict=True)):
        path = f"/api/products/case-{n}"
        classes = [s // 100 for s in ours], [s // 100 for s in theirs]
        forwarded, accepted = seen(behind, path), seen(plain, path)
        if classes[0] != classes[1]:
            differences.append(f"{name}: ours {ours}, aiohttp's {theirs}")
        if forwarded != accepted[: len(forwarded)] or len(forwarded) > len(accepted):
            differences.append(f"{name}: forwarded {forwarded}, aiohttp accepted {accepted}")
    assert not differences, "\n".join(differences)
    assert len(CORPUS) >= 50
