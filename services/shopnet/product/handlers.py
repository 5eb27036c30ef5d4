"""HTTP handlers of the product service.

GET /products/{id} on a cache hit is the benchmark path: one batched Redis read
and the stored bytes returned as they are; nothing else happens on it. The public
listener serves its plain form without aiohttp (shopnet.product.front), through
`read_product` as here.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from shopnet.common.http import JSON, NotFound
from shopnet.common.pg import unavailable_on_db_errors
from shopnet.common.validation import decode_body, known_params, path_int
from shopnet.product.keys import CACHE, FLIGHTS, STORE
from shopnet.product.schemas import (
    LIST_PARAMETERS,
    ListQuery,
    ProductIn,
    ProductPatch,
    encode_page,
    encode_product,
)

_HIT = {"X-Cache": "HIT"}
_MISS = {"X-Cache": "MISS"}


async def get_product(request: web.Request) -> web.Response:
    known_params(request)
    body, cached = await read_product(request.app, path_int(request, "id"))
    return web.Response(body=body, content_type=JSON, headers=_HIT if cached else _MISS)


async def read_product(app: web.Application, product_id: int) -> tuple[bytes, bool]:
    """GET /products/{id} once the id is known: (the product's JSON, whether it came from
    the cache); NotFound, or a 503 when the database is unreachable. The one place that
    says what the route answers, whether aiohttp or the listener's own protocol serves
    it (shopnet.product.front)."""
    body = await app[CACHE].get_product(product_id)
    if body is not None:
        return body, True
    body = await _load_product(app, product_id)
    if body is None:
        raise NotFound(f"product {product_id} not found")
    return body, False


async def _load_product(app: web.Application, product_id: int) -> bytes | None:
    store, cache = app[STORE], app[CACHE]

    async def from_database() -> bytes | None:
        row = await store.get(product_id)
        return None if row is None else encode_product(row)

    async with unavailable_on_db_errors():
        return await app[FLIGHTS].products.do(
            product_id, lambda: cache.load_product(product_id, from_database)
        )


async def list_products(request: web.Request) -> web.Response:
    known_params(request, *LIST_PARAMETERS)
    query = ListQuery.from_query(request.query)
    key = query.cache_key()
    app = request.app
    store, cache = app[STORE], app[CACHE]
    generation, body = await cache.get_list(key)
    if body is not None:
        return web.Response(body=body, content_type=JSON, headers=_HIT)

    async def from_database() -> bytes:
        rows, total = await store.page(query)
        page = encode_page(rows, query.page, total)
        await cache.fill_list(generation, key, page)
        return page

    async with unavailable_on_db_errors():
        body = await app[FLIGHTS].lists.do(key, from_database)
    return web.Response(body=body, content_type=JSON, headers=_MISS)


async def create_product(request: web.Request) -> web.Response:
    known_params(request)
    product = await decode_body(request, ProductIn)
    async with unavailable_on_db_errors():
        row = await request.app[STORE].create(product)
    await invalidate_after_write(request.app, row["id"])
    return web.Response(
        body=encode_product(row),
        status=201,
        content_type=JSON,
        headers={"Location": f"/products/{row['id']}"},
    )


async def replace_product(request: web.Request) -> web.Response:
    known_params(request)
    product_id = path_int(request, "id")
    product = await decode_body(request, ProductIn)
    return await _update(request.app, product_id, msgspec.structs.asdict(product))


async def patch_product(request: web.Request) -> web.Response:
    known_params(request)
    product_id = path_int(request, "id")
    patch = await decode_body(request, ProductPatch)
    return await _update(request.app, product_id, patch.changes())


async def _update(app: web.Application, product_id: int, changes: dict[str, Any]) -> web.Response:
    async with unavailable_on_db_errors():
        row = await app[STORE].update(product_id, changes)
    if row is None:
        raise NotFound(f"product {product_id} not found")
    if changes:
        await invalidate_after_write(app, product_id)
    return web.Response(body=encode_product(row), content_type=JSON)


async def delete_product(request: web.Request) -> web.Response:
    known_params(request)
    product_id = path_int(request, "id")
    async with unavailable_on_db_errors():
        deleted = await request.app[STORE].delete(product_id)
    if not deleted:
        raise NotFound(f"product {product_id} not found")
    await invalidate_after_write(request.app, product_id)
    return web.Response(status=204)


async def invalidate_after_write(app: web.Application, product_id: int) -> None:
    """After a commit: no later request may see the old product, cached or in flight."""
    flights = app[FLIGHTS]
    flights.products.forget(product_id)
    flights.lists.forget_all()
    await app[CACHE].invalidate(product_id)
