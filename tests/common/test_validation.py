"""Typed JSON bodies and query/path parameters: every bad input is a precise 400."""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec
import pytest
from aiohttp import web

from shopnet.common.app import create_base_app
from shopnet.common.config import ServiceConfig
from shopnet.common.http import BadRequest, json_response
from shopnet.common.validation import MAX_PAGE_SIZE, Page, decode_body, path_int, query_int


class Cfg(ServiceConfig):
    service: ClassVar[str] = "demo"
    default_port: ClassVar[int] = 1


class Item(msgspec.Struct):
    name: str
    quantity: int = msgspec.field(default=1)


async def _create(request: web.Request) -> web.Response:
    item = await decode_body(request, Item)
    return json_response({"name": item.name, "quantity": item.quantity})


async def _get(request: web.Request) -> web.Response:
    return json_response({"id": path_int(request, "id", maximum=1000)})


@pytest.fixture
async def client(aiohttp_client: Any) -> Any:
    app = create_base_app(Cfg.from_env({}))
    app.router.add_post("/items", _create)
    app.router.add_get("/items/{id}", _get)
    return await aiohttp_client(app)


async def test_a_valid_body_is_decoded(client: Any) -> None:
    resp = await client.post("/items", json={"name": "lamp", "quantity": 3})
    assert await resp.json() == {"name": "lamp", "quantity": 3}


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        (None, "invalid_json", "a JSON body is required"),
        (b"{not json", "invalid_json", "body is not valid JSON"),
        (b'{"name": "\xff"}', "invalid_json", "body is not valid JSON"),
        (b'{"name": 5}', "validation_failed", "$.name"),
        (b'{"name": "x", "quantity": "2"}', "validation_failed", "$.quantity"),
        # Nested past the bound: 400, not a RecursionError's 500 (msgspec's own, then ours).
        (b"[" * 1000 + b"]" * 1000, "invalid_json", "nests deeper than 32"),
        (b'{"name": "x", "q": ' + b"[" * 40 + b"]" * 40 + b"}", "invalid_json", "nests deeper"),
    ],
)
async def test_bad_bodies_are_400s_naming_the_problem(
    client: Any, body: bytes | None, code: str, says: str
) -> None:
    resp = await client.post("/items", data=body)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == code and says in error["message"]


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "²", "1001"])
async def test_path_ids_must_be_positive_integers(client: Any, raw: str) -> None:
    resp = await client.get(f"/items/{raw}")
    assert resp.status == 400
    assert (await resp.json())["error"]["message"] == "id must be an integer between 1 and 1000"


async def test_a_good_path_id(client: Any) -> None:
    assert await (await client.get("/items/1000")).json() == {"id": 1000}


def test_query_int_default_bounds_and_errors() -> None:
    assert query_int({}, "n", default=3, minimum=1, maximum=9) == 3
    assert query_int({"n": "9"}, "n", default=3, minimum=1, maximum=9) == 9
    # Absent means the default; present but empty, out of range or not plain digits is a 400.
    for raw in ("", "10", "0", "1.5", "+5", "9" * 4301):
        with pytest.raises(BadRequest, match="'n' must be an integer between 1 and 9"):
            query_int({"n": raw}, "n", default=3, minimum=1, maximum=9)


def test_page_and_its_offset() -> None:
    assert Page.from_query({}) == Page(page=1, page_size=20)
    page = Page.from_query({"page": "3", "page_size": "10"})
    assert page.offset == 20
    with pytest.raises(BadRequest):
        Page.from_query({"page_size": str(MAX_PAGE_SIZE + 1)})
