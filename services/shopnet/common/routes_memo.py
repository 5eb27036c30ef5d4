"""A service's listener handler that remembers what the router resolved, per method and path.

aiohttp resolves every request afresh: it walks the path's parts back through its
index, matches the candidates' regexes, builds a match-info object and freezes it,
then finds the middleware chain. A hot path asks the same question again and again
(`GET /products/1` on a cache hit), so this handler, installed as the listener's
low-level handler (shopnet.common.protocol.FRONT_HANDLER), keeps each answer the
router gave: the frozen match info and the middleware chain around the route's
handler. Requests then run the same middleware and handler with the same match info.

Only real route matches are kept (a 404 or 405 always asks the router again), never
for a request carrying `Expect:` (aiohttp's expect handling runs in the router's
path), and at most `size` of them: past that the memo starts over, so made-up paths
cost a router lookup each, never memory.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web
from aiohttp.web_urldispatcher import SystemRoute, UrlMappingMatchInfo

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]

DEFAULT_SIZE = 4096


def remembered_routes(
    app: web.Application, *, size: int = DEFAULT_SIZE
) -> Callable[[Handler], Handler]:
    """The FRONT_HANDLER for `app`: given the Application's own handler, the memoising one."""

    def install(app_handler: Handler) -> Handler:
        memo: dict[tuple[str, str], tuple[UrlMappingMatchInfo, Handler]] = {}
        middlewares = tuple(reversed(app.middlewares))  # the first is the outermost
        expect = hdrs.EXPECT

        def remember(key: tuple[str, str], info: object) -> None:
            if not isinstance(info, UrlMappingMatchInfo) or isinstance(info.route, SystemRoute):
                return  # a 404/405: the router answers those every time
            # aiohttp types a route's handler as a function or a class-based view; ours
            # are functions.
            handler: Handler = info.handler  # type: ignore[assignment]
            for middleware in middlewares:
                handler = functools.partial(middleware, handler=handler)
            if len(memo) >= size:
                memo.clear()
            memo[key] = (info, handler)

        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            key = (request.method, request.rel_url.path_safe)  # what the router matches
            known = memo.get(key)
            if known is None or expect in request.headers:
                response = await app_handler(request)
                if known is None:
                    # aiohttp's private slot: the router's result, read and set as the router does.
                    remember(key, request._match_info)  # type: ignore[attr-defined]
                return response
            request._match_info = known[0]  # type: ignore[attr-defined]  # as the router does
            return await known[1](request)

        return handle

    return install
