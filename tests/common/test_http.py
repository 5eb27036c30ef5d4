"""The request middleware: every failure becomes the JSON error body, with the request id."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from aiohttp import web

from shopnet.common.app import create_base_app
from shopnet.common.config import ServiceConfig
from shopnet.common.http import (
    REQUEST_ID,
    ApiError,
    BadRequest,
    Conflict,
    GatewayTimeout,
    NotFound,
    ServiceUnavailable,
    error_body,
    json_response,
)


class Cfg(ServiceConfig):
    service: ClassVar[str] = "demo"
    default_port: ClassVar[int] = 1


async def _raise(request: web.Request) -> web.Response:
    kind = request.match_info["kind"]
    errors: dict[str, Exception] = {
        "bad": BadRequest("no good", details={"field": "x"}),
        "missing": NotFound("nothing here"),
        "conflict": Conflict("taken", code="sku_taken"),
        "busy": ServiceUnavailable("later", retry_after=7),
        "slow": GatewayTimeout("too slow"),
        "crash": RuntimeError("secret traceback detail"),
        "plain": ApiError("broken"),
    }
    raise errors[kind]


async def _ok(request: web.Request) -> web.Response:
    await request.read()  # a body over the app's limit fails here
    return json_response({"ok": True})


@pytest.fixture
async def client(aiohttp_client: Any) -> Any:
    app = create_base_app(Cfg.from_env({}, max_body_bytes=64))
    app.router.add_get("/raise/{kind}", _raise)
    app.router.add_get("/ok", _ok)
    app.router.add_post("/ok", _ok)
    return await aiohttp_client(app)


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("bad", 400, "bad_request"),
        ("missing", 404, "not_found"),
        ("conflict", 409, "sku_taken"),
        ("busy", 503, "unavailable"),
        ("slow", 504, "gateway_timeout"),
        ("crash", 500, "internal"),
        ("plain", 500, "internal"),
    ],
)
async def test_errors_are_json_with_code_and_request_id(
    client: Any, kind: str, status: int, code: str
) -> None:
    resp = await client.get(f"/raise/{kind}", headers={REQUEST_ID: "req-1"})
    assert resp.status == status
    assert resp.content_type == "application/json"
    assert resp.headers[REQUEST_ID] == "req-1"
    error = (await resp.json())["error"]
    assert error["code"] == code and error["request_id"] == "req-1"
    assert "secret traceback detail" not in error["message"]


async def test_details_and_retry_after_travel_with_the_error(client: Any) -> None:
    bad = await client.get("/raise/bad")
    assert (await bad.json())["error"]["details"] == {"field": "x"}
    busy = await client.get("/raise/busy")
    assert busy.headers["Retry-After"] == "7"


async def test_aiohttps_own_errors_get_our_codes(client: Any) -> None:
    unknown = await client.get("/nowhere")
    assert unknown.status == 404 and (await unknown.json())["error"]["code"] == "not_found"
    wrong = await client.delete("/ok")
    assert wrong.status == 405
    assert (await wrong.json())["error"]["code"] == "method_not_allowed"
    assert "GET" in wrong.headers["Allow"]
    big = await client.post("/ok", data=b"x" * 1000)
    assert big.status == 413 and (await big.json())["error"]["code"] == "payload_too_large"


async def test_a_sane_request_id_is_kept_and_others_replaced(client: Any) -> None:
    kept = await client.get("/ok", headers={REQUEST_ID: "abc-123"})
    assert kept.headers[REQUEST_ID] == "abc-123"
    for bad in ("x" * 200, "tab\there"):
        minted = await client.get("/ok", headers={REQUEST_ID: bad})
        assert minted.headers[REQUEST_ID] != bad and len(minted.headers[REQUEST_ID]) == 16


def test_error_body_leaves_out_empty_details() -> None:
    assert error_body("c", "m", None) == b'{"error":{"code":"c","message":"m","request_id":null}}'
