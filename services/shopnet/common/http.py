"""HTTP plumbing every service shares: JSON responses, API errors, the request middleware.

API errors form one hierarchy; the middleware turns each into the JSON body
`{"error": {"code", "message", "request_id"}}` so no client ever sees an HTML
page or a traceback:

    ApiError                       500 internal
    ├── BadRequest                 400 bad_request / invalid_json / validation_failed
    ├── Unauthorized               401 unauthorized
    ├── NotFound                   404 not_found
    ├── RequestTimeout             408 request_timeout (the connection is closed)
    ├── Conflict                   409 conflict
    ├── PayloadTooLarge            413 payload_too_large
    ├── Unprocessable              422 unprocessable
    ├── BadGateway                 502 bad_gateway
    ├── ServiceUnavailable         503 unavailable (with Retry-After)
    └── GatewayTimeout             504 gateway_timeout
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware

from shopnet.common.logs import request_id_var

log = logging.getLogger("shopnet.http")

JSON = "application/json"
REQUEST_ID = "X-Request-ID"
# The time left for the answer, in whole milliseconds, as the caller (the gateway) counts
# it: relative, so no clocks need to agree (gRPC's grpc-timeout does the same).
BUDGET = "X-Request-Budget-Ms"
_MAX_BUDGET_DIGITS = 9
_MAX_REQUEST_ID = 128


def dumps(data: Any) -> bytes:
    return orjson.dumps(data, default=str)


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(body=dumps(data), status=status, headers=headers, content_type=JSON)


class ApiError(Exception):
    """An error with an HTTP status and a stable machine-readable code."""

    status = 500
    code = "internal"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.details = details
        self.headers = headers or {}


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class NotFound(ApiError):
    status, code = 404, "not_found"


class RequestTimeout(ApiError):
    status, code = 408, "request_timeout"

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers.setdefault("Connection", "close")  # the rest of the body is unread


class Conflict(ApiError):
    status, code = 409, "conflict"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class Unprocessable(ApiError):
    status, code = 422, "unprocessable"


class BadGateway(ApiError):
    status, code = 502, "bad_gateway"


class ServiceUnavailable(ApiError):
    status, code = 503, "unavailable"

    def __init__(self, message: str, *, retry_after: int = 1, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers.setdefault("Retry-After", str(retry_after))


class GatewayTimeout(ApiError):
    status, code = 504, "gateway_timeout"


def error_body(code: str, message: str, request_id: str | None, details: Any = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message, "request_id": request_id}
    if details is not None:
        error["details"] = details
    return dumps({"error": error})


def error_response(
    status: int,
    code: str,
    message: str,
    request_id: str | None,
    *,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    response = web.Response(
        body=error_body(code, message, request_id, details),
        status=status,
        headers=headers,
        content_type=JSON,
    )
    if request_id:
        response.headers[REQUEST_ID] = request_id
    return response


def request_budget(request: web.BaseRequest, longest: float) -> float:
    """Seconds this request may take: the caller's budget when it sent a valid one and it
    is shorter than `longest`, else `longest`."""
    raw = request.headers.get(BUDGET, "")
    # Length first: int() of thousands of digits is slow or raises.
    if 0 < len(raw) <= _MAX_BUDGET_DIGITS and raw.isascii() and raw.isdigit():
        return min(int(raw) / 1000, longest)
    return longest


class _RequestIds:
    """New request ids: 16 hex digits of the system's CSPRNG, as `secrets.token_hex(8)`,
    read 4 KiB at a time rather than with one getrandom() call per request."""

    __slots__ = ("_buffer", "_next")

    _CHUNK = 4096

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._buffer = b""
        self._next = 0

    def new(self) -> str:
        start = self._next
        if start + 8 > len(self._buffer):
            self._buffer, start = secrets.token_bytes(self._CHUNK), 0
        self._next = start + 8
        return self._buffer[start : start + 8].hex()


_request_ids = _RequestIds()
new_request_id = _request_ids.new
# A forked child must not mint the ids its parent has already buffered.
os.register_at_fork(after_in_child=_request_ids.reset)


def incoming_request_id(request: web.BaseRequest) -> str:
    """Keep a caller's X-Request-ID when it is sane, otherwise mint one."""
    return request_id_from(request.headers.get(REQUEST_ID))


def request_id_from(given: str | None) -> str:
    """`given` (a caller's X-Request-ID) when it is sane, otherwise a new id."""
    if given and len(given) <= _MAX_REQUEST_ID and given.isascii() and given.isprintable():
        return given
    return new_request_id()


# aiohttp's own HTTP exceptions (unknown route, wrong method, body too large) keep
# their status; these give them our codes.
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


Recorder = Callable[[web.Request, web.StreamResponse, float], None]
"""Told every answer: (request, response, perf_counter() when the request came in)."""


def make_request_middleware(record: Recorder | None = None) -> Middleware:
    """The request middleware, with `record` told about every answer it gives.

    One layer instead of a metrics middleware around this one: every layer costs a
    coroutine and an await per request.
    """

    @web.middleware
    async def request_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Tag the request with its id, and turn every failure into a JSON error."""
        started = time.perf_counter()
        request_id = incoming_request_id(request)
        token = request_id_var.set(request_id)
        try:
            response = await handler(request)
        except ApiError as exc:
            if exc.status >= 500:
                log.warning("%s: %s", exc.code, exc.message)
            response = error_response(
                exc.status,
                exc.code,
                exc.message,
                request_id,
                details=exc.details,
                headers=exc.headers,
            )
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code = _HTTP_CODES.get(exc.status, "http_error")
            headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
            # 413's text says the limit and the size; the others' reason is enough.
            message = exc.text if exc.status == 413 and exc.text else exc.reason
            response = error_response(exc.status, code, message, request_id, headers=headers)
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.path)
            response = error_response(500, "internal", "internal error", request_id)
        else:
            response.headers[REQUEST_ID] = request_id
        finally:
            request_id_var.reset(token)
        if record is not None:
            record(request, response, started)
        return response

    return request_middleware


request_middleware = make_request_middleware()
"""Tag the request with its id, and turn every failure into a JSON error."""
