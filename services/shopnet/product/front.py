"""GET /products/{id} on the listener's own protocol (shopnet.common.front_listener).

A cache hit is one batched Redis read and the stored bytes sent back; aiohttp's
server around it (request object, middleware, Response, writer) cost more than
the hit itself. So the public listener serves the route's plain form itself:
`GET /products/<id>` over HTTP/1.1, the id as path_int accepts it written the
canonical way (digits, no leading zero), no query, no body, none of `Expect`,
`Transfer-Encoding`, `Upgrade`, nothing aiohttp's parser refuses
(front_path.scan_fields). Anything else — a query string (known_params' 400),
`/products/007`, HEAD, other methods and paths — goes to aiohttp with the rest of
the connection, which answers it as it always did.

The answer is what the route's handler gives (handlers.read_product: X-Cache HIT
or MISS, 404, 503 on database errors), with the fields, order and request id the
request middleware and aiohttp write (a test holds the bytes to theirs), counted
under the same route template.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute

from shopnet.common import front_path
from shopnet.common.answer import SERVER_LINE, date_line
from shopnet.common.front_path import (
    BasePath,
    FrontCall,
    frozen_match_info,
    scan_fields,
)
from shopnet.product.handlers import read_product

_PREFIX = b"/products/"
_PREFIX_SIZE = len(_PREFIX)
_MAX_ID = 2**63 - 1  # path_int's bound
_MAX_DIGITS = len(str(_MAX_ID))

# The handler's Response (X-Cache, then Content-Type) once the middleware set the
# request id; aiohttp then adds Content-Length, Date, Server and, last, Connection.
_HIT = b"HTTP/1.1 200 OK\r\nX-Cache: HIT\r\nContent-Type: application/json\r\nX-Request-ID: "
_MISS = b"HTTP/1.1 200 OK\r\nX-Cache: MISS\r\nContent-Type: application/json\r\nX-Request-ID: "
_CLOSE = b"Connection: close\r\n"


class ProductCall(FrontCall):
    """One GET /products/{id}."""

    __slots__ = ("product_id",)

    def __init__(
        self, url: str, keep_alive: bool, given_id: str | None, info: Any, product_id: int
    ) -> None:
        super().__init__("GET", url, keep_alive, given_id, info)
        self.product_id = product_id


class ProductPath(BasePath):
    """The FrontPath of the product service: GET /products/{id} (see the module's docstring)."""

    def __init__(
        self, app: web.Application, route: AbstractRoute, server_options: dict[str, int]
    ) -> None:
        super().__init__(app, server_options)
        self._app = app
        self._info = frozen_match_info(app, route)

    def call(
        self,
        method: bytes,
        version: str,
        url: bytes,
        headers: list[tuple[bytes, bytes]],
        keep_alive: bool,
    ) -> ProductCall | None:
        """The request to serve, or None when aiohttp is to answer it."""
        if method != b"GET" or version != "1.1" or not url.startswith(_PREFIX):
            return None
        digits = url[_PREFIX_SIZE:]
        # bytes.isdigit() is ASCII digits only: no query, no `%`, no sign, no `/` after.
        if not digits.isdigit() or digits[0] == 0x30 or len(digits) > _MAX_DIGITS:
            return None
        product_id = int(digits)
        if product_id > _MAX_ID:
            return None
        scanned = scan_fields(headers)
        if scanned is None or scanned[1]:
            return None  # a body, or not a head to serve
        return ProductCall(url.decode("ascii"), keep_alive, scanned[0], self._info, product_id)

    async def answer(
        self, call: ProductCall, peer: str, request_id: str, keep_alive: Callable[[], bool]
    ) -> tuple[int, bytes]:
        """The handler's answer as bytes; NotFound or ServiceUnavailable as it raises them."""
        body, cached = await read_product(self._app, call.product_id)
        return 200, b"".join(
            (
                _HIT if cached else _MISS,
                request_id.encode(),
                b"\r\nContent-Length: %d\r\n" % len(body),
                date_line(),
                SERVER_LINE,
                b"\r\n" if keep_alive() else _CLOSE + b"\r\n",
                body,
            )
        )


def install(app: web.Application, route: AbstractRoute) -> None:
    """Serve `route` (GET /products/{id}) on the public listener's own protocol."""
    front_path.install(app, lambda options: ProductPath(app, route, options))
