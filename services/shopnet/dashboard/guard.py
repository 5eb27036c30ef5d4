"""Who may drive the dashboard: its owner, holding the URL it printed.

The dashboard reads the stack as root and can start probes, on 127.0.0.1 — a port any
web page the owner visits can send requests to. So every request but the static files
must:

- name an allowed Host (127.0.0.1 or localhost, any port): a DNS-rebinding page's
  requests carry its own name, and are refused (421);
- carry the per-run token (`?token=` in the printed URL; the page sends it on as the
  `X-Dashboard-Token` header, and as `?token=` where a browser sets no header: the
  event stream, images): a page elsewhere never learns it (403). No cookie: one would
  ride along on requests other sites start, and be shared by dashboards on other ports;
- on a POST, come from an allowed Origin when it names one (a browser always does on a
  cross-site POST): 403 otherwise.

Every answer carries a Content Security Policy that allows only the dashboard's own
script and style (and the picture's one inline style sheet, by its hash), and no
Referer that could carry the token elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

from shopnet.dashboard.svg import STYLE

ALLOWED_HOSTS = frozenset({"127.0.0.1", "localhost"})
TOKEN_PARAM = "token"
TOKEN_HEADER = "X-Dashboard-Token"
PUBLIC_PREFIX = "/static/"
"""The page's script, style sheet and nothing else: files of the package, no data."""

_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self'; "
    f"style-src 'self' 'sha256-{_STYLE_HASH}'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def new_token() -> str:
    """A fresh per-run token (192 random bits, URL-safe)."""
    return secrets.token_urlsafe(24)


def host_name(value: str | None) -> str:
    """The host part of a Host header or an Origin's netloc ("" when absent)."""
    if not value:
        return ""
    try:
        return urlsplit(f"//{value}").hostname or ""
    except ValueError:
        return ""


def _given_token(request: web.Request) -> str:
    return request.headers.get(TOKEN_HEADER) or request.query.get(TOKEN_PARAM) or ""


def _refuse(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"code": "forbidden", "message": message}}, status=status)


def middleware(token: str) -> Middleware:
    """The checks above, for an app whose token is `token`."""
    expected = token.encode()

    @web.middleware
    async def guard(request: web.Request, handler: _Handler) -> web.StreamResponse:
        response = await _checked(request, handler, expected)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    return guard


async def _checked(request: web.Request, handler: _Handler, expected: bytes) -> web.StreamResponse:
    if host_name(request.headers.get("Host")) not in ALLOWED_HOSTS:
        return _refuse(421, "the dashboard answers to 127.0.0.1 and localhost only")
    if request.path.startswith(PUBLIC_PREFIX):
        return await handler(request)
    if not hmac.compare_digest(_given_token(request).encode(), expected):
        return _refuse(403, "open the URL `shopnet dashboard` printed (it carries the token)")
    if request.method not in {"GET", "HEAD"}:
        origin = request.headers.get("Origin")
        if origin is not None and (
            host_name(urlsplit(origin).netloc) not in ALLOWED_HOSTS
            or urlsplit(origin).scheme != "http"
        ):
            return _refuse(403, "cross-origin requests are refused")
    return await handler(request)
