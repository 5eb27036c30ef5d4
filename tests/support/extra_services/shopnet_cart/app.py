"""PUT and GET a cart (any JSON object) in Redis, under the service's own key prefix."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from aiohttp import web

from shopnet.common.app import create_base_app
from shopnet.common.config import read_secret
from shopnet.common.health import CheckResult, CheckStatus
from shopnet.common.http import BadRequest, NotFound, json_response
from shopnet.common.validation import read_body

from .config import CartConfig

CONFIG = web.AppKey("cart_config", CartConfig)
REDIS = web.AppKey("cart_redis", aioredis.Redis)


def create_app(cfg: CartConfig) -> web.Application:
    app = create_base_app(cfg, readiness={"redis": _redis_readiness})
    app[CONFIG] = cfg
    app.cleanup_ctx.append(_redis)
    app.router.add_put("/carts/{id}", put_cart)
    app.router.add_get("/carts/{id}", get_cart)
    return app


async def put_cart(request: web.Request) -> web.Response:
    try:
        cart = json.loads(await read_body(request))
    except ValueError:
        raise BadRequest("the body is not JSON") from None
    if not isinstance(cart, dict):
        raise BadRequest("a cart is a JSON object")
    cfg = request.app[CONFIG]
    await request.app[REDIS].set(_key(request), json.dumps(cart), ex=cfg.ttl_seconds)
    return json_response(cart)


async def get_cart(request: web.Request) -> web.Response:
    found = await request.app[REDIS].get(_key(request))
    if found is None:
        raise NotFound("no such cart")
    return json_response(json.loads(found))


def _key(request: web.Request) -> str:
    return request.app[CONFIG].key_prefix + request.match_info["id"]


async def _redis(app: web.Application) -> AsyncIterator[None]:
    cfg = app[CONFIG]
    client = aioredis.from_url(
        cfg.redis_url, password=read_secret(cfg.redis_password_file), socket_timeout=1.0
    )
    app[REDIS] = client
    yield
    await client.aclose()


async def _redis_readiness(app: web.Application) -> CheckResult:
    await app[REDIS].ping()  # an error is a DOWN, with its reason (shopnet.common.health)
    return CheckResult(CheckStatus.OK, "ping")
