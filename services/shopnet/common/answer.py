"""An answer written as aiohttp writes it, for the listener's own protocol (front_listener).

The rules are aiohttp's (Response._start, StreamResponse._prepare_headers), so an
answer reads the same whichever of the two wrote it: the fields given, in order;
then Content-Length from the body unless given (none for 204, 304 and 1xx; none
added to an empty answer to HEAD); a default Content-Type for a non-empty body;
Date and `Server: shopnet` unless given; `Connection: close` when the connection
ends after it. No body after a HEAD, 204, 304 or 1xx.
"""

from __future__ import annotations

import time
from email.utils import formatdate
from http import HTTPStatus

from shopnet.common.app import SERVER_NAME

_REASONS = {status.value: status.phrase for status in HTTPStatus}
EMPTY_BODY_STATUSES = frozenset({204, 304, *range(100, 200)})
_SERVER = f"Server: {SERVER_NAME}\r\n"
SERVER_LINE = _SERVER.encode()
_STATUS_LINES = {
    status: f"HTTP/1.1 {status} {reason}\r\n".encode() for status, reason in _REASONS.items()
}


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    return line if line is not None else f"HTTP/1.1 {status} \r\n".encode()


class _Clock:
    """The Date field, formatted once per second (as aiohttp does)."""

    __slots__ = ("_field", "_line", "_second")

    def __init__(self) -> None:
        self._second = 0
        self._field = ""
        self._line = b""

    def date_field(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._field = f"Date: {formatdate(now, usegmt=True)}\r\n"
            self._line = self._field.encode()
        return self._field

    def date_line(self) -> bytes:
        self.date_field()
        return self._line


_clock = _Clock()
date_field = _clock.date_field
date_line = _clock.date_line


def set_field(fields: list[tuple[str, str]], name: str, value: str) -> None:
    """As a multidict's `fields[name] = value`: the first one replaced in place, any
    others removed, or appended when there is none."""
    lower = name.lower()
    found = [i for i, (key, _) in enumerate(fields) if key.lower() == lower]
    if not found:
        fields.append((name, value))
        return
    fields[found[0]] = (fields[found[0]][0], value)
    for i in reversed(found[1:]):
        del fields[i]


def serialise(
    status: int,
    fields: list[tuple[str, str]],
    passed: bytes,
    body: bytes,
    head_only: bool,
    keep_alive: bool,
) -> bytes:
    """The whole answer: status line, `fields` then `passed` (header lines as bytes), the
    fields aiohttp adds, the blank line and, unless it must be empty, the body."""
    names = {name.lower() for name, _ in fields}
    empty_status = status in EMPTY_BODY_STATUSES
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\n"]
    if empty_status and "content-length" in names:
        lines += [f"{k}: {v}\r\n" for k, v in fields if k.lower() != "content-length"]
    else:
        lines += [f"{k}: {v}\r\n" for k, v in fields]
    if "content-length" not in names and not empty_status and (body or not head_only):
        lines.append(f"Content-Length: {len(body)}\r\n")
    if not (empty_status or head_only) and body and "content-type" not in names:
        lines.append("Content-Type: application/octet-stream\r\n")
    if "date" not in names:
        lines.append(date_field())
    if "server" not in names:
        lines.append(_SERVER)
    if not keep_alive and "connection" not in names:
        lines.append("Connection: close\r\n")
    head = "".join(lines).encode("utf-8", "surrogateescape") + passed + b"\r\n"
    if empty_status or head_only or not body:
        return head
    return head + body
