"""Structured logging: one JSON object per line on stderr, carrying the request id.

The request id lives in a context variable set by the request middleware, so
any log call made while handling a request (in any module) is tagged with it.

Every mode points a service's stderr at a log file; past `max_bytes` that file is
rotated here (`x.log` → `x.log.1` …), and stdout and stderr are pointed at a fresh one,
so a log never grows without bound and no restart or external logrotate is needed.
"""

from __future__ import annotations

import contextvars
import logging
import os
import stat
import sys
import time
from typing import Any, TextIO

import orjson
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "shopnet_request_id", default=None
)

# LogRecord attributes that are not user-supplied `extra=` fields.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """Render records as JSON with service identity and request id."""

    def __init__(self, *, service: str, instance_id: str) -> None:
        super().__init__()
        self._static = {"service": service, "instance": instance_id}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **self._static,
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class RotatingStderrHandler(logging.StreamHandler[TextIO]):
    """stderr, rotated by size when it is a regular file.

    Processes sharing the file (a gateway's workers) each notice when their stderr is no
    longer the file at the path — another one rotated it — and only reopen then.
    """

    def __init__(self, *, max_bytes: int, backups: int) -> None:
        super().__init__(sys.stderr)
        self._max_bytes = max_bytes
        self._backups = max(backups, 1)
        self._path = _regular_file(2) if max_bytes > 0 else None

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        if self._path is None:
            return
        try:
            mine = os.fstat(2)
            if mine.st_size > self._max_bytes:
                self._rotate(mine)
        except OSError:
            pass  # rotation is best effort; the record was written

    def _rotate(self, mine: os.stat_result) -> None:
        path = self._path
        assert path is not None
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        if current is not None and (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino):
            for n in range(self._backups - 1, 0, -1):
                if os.path.exists(f"{path}.{n}"):
                    os.replace(f"{path}.{n}", f"{path}.{n + 1}")
            os.replace(path, f"{path}.1")
        self.flush()
        fresh = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            for fd in (1, 2):
                if _same_file(fd, mine):
                    os.dup2(fresh, fd)
        finally:
            os.close(fresh)


def _regular_file(fd: int) -> str | None:
    """The path of `fd` when it is a regular file (Linux), else None."""
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            path = os.readlink(f"/proc/self/fd/{fd}")
            # Rotated away before we started: its name is no longer the log's name.
            return None if path.endswith(" (deleted)") else path
    except OSError:
        pass
    return None


def _same_file(fd: int, st: os.stat_result) -> bool:
    try:
        other = os.fstat(fd)
    except OSError:
        return False
    return (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino)


def configure(
    *,
    service: str,
    instance_id: str,
    level: str = "INFO",
    max_bytes: int = 0,
    backups: int = 3,
) -> None:
    """Send every logger's records, as JSON, to stderr (rotated past `max_bytes` when it
    is a file; 0: never)."""
    handler = RotatingStderrHandler(max_bytes=max_bytes, backups=backups)
    handler.setFormatter(JsonFormatter(service=service, instance_id=instance_id))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp logs every client disconnect at DEBUG/INFO; keep them out of INFO output.
    logging.getLogger("aiohttp.access").setLevel(logging.INFO)


class JsonAccessLogger(AbstractAccessLogger):
    """aiohttp access logger writing one JSON line per request."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status,
                "duration_ms": round(time * 1000, 3),
                "remote": request.remote,
                "request_id": response.headers.get("X-Request-ID"),
            },
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)
