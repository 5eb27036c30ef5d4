"""The public listener's request handler: proxied paths go straight to their forwarder.

aiohttp's Application resolves every request through its router (walking the path's
parts back through an index, matching a regex, building and freezing a match-info
object) before it runs the middleware and the handler. On the proxy path the answer
is always the same two resources per route, so this handler, installed as the
listener's low-level handler (shopnet.common.protocol.FRONT_HANDLER), picks the route
by prefix and runs the same middleware chain on the same handler with a match info
built once — same request ids, JSON errors, metrics labels (the route templates) —
and hands everything else (/health, /api/openapi.json, unknown paths, `Expect:`) to
the Application as before.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web
from aiohttp.web_urldispatcher import ResourceRoute, UrlMappingMatchInfo

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


def match_info(app: web.Application, route: ResourceRoute) -> UrlMappingMatchInfo:
    """What the router would attach for `route`, built once: frozen, so it can be shared."""
    info = UrlMappingMatchInfo({}, route)
    info.add_app(app)
    info.freeze()
    return info


class FrontDoor:
    """Dispatch by route prefix, as the router would, without the router."""

    def __init__(
        self,
        app: web.Application,
        routes: list[tuple[str, ResourceRoute, ResourceRoute]],
    ) -> None:
        """`routes`: (prefix, the route of the prefix itself, the route of `prefix/…`),
        as registered on `app`'s router (which still serves the slow path)."""
        self._app = app
        self._routes = routes

    def __call__(self, app_handler: Handler) -> Handler:
        """The listener's handler, given the Application's own (called once, at start-up,
        when the app is frozen and its middleware final)."""
        app = self._app
        table = []
        for prefix, exact, below in self._routes:
            entries = []
            for route in (exact, below):
                handler: Handler = route.handler  # type: ignore[assignment]
                # aiohttp's own order: the first middleware is the outermost.
                for middleware in reversed(app.middlewares):
                    handler = functools.partial(middleware, handler=handler)  # type: ignore[arg-type]
                entries.append((match_info(app, route), handler))
            table.append((prefix, len(prefix), entries[0], entries[1]))
        routes = tuple(table)
        expect = hdrs.EXPECT

        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            path = request.rel_url.path_safe  # what the router matches
            for prefix, size, exact, below in routes:
                if not path.startswith(prefix):
                    continue
                if len(path) == size:
                    info, handler = exact
                elif path[size] == "/":
                    info, handler = below
                else:
                    break  # `/api/productsX`: the router's 404
                if expect in request.headers:
                    break  # 100-continue or 417: aiohttp's expect handling
                request._match_info = info  # type: ignore[attr-defined]  # as the router does
                return await handler(request)
            return await app_handler(request)

        return handle
