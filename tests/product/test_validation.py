"""Bad input, endpoint by endpoint: always a 4xx JSON error naming the problem, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.product.helpers import expect_error, product_body

NOT_JSON = object()  # send a body that is not JSON

BAD_BODIES: list[tuple[str, Any, str]] = [
    ("invalid JSON", NOT_JSON, "invalid_json"),
    ("empty body", b"", "invalid_json"),
    ("invalid UTF-8", b'{"sku": "\xff\xfe"}', "invalid_json"),
    ("array, not object", [product_body()], "validation_failed"),
    ("missing sku", {k: v for k, v in product_body().items() if k != "sku"}, "validation_failed"),
    (
        "missing price",
        {k: v for k, v in product_body().items() if k != "price_cents"},
        "validation_failed",
    ),
    ("price as string", product_body(price_cents="1999"), "validation_failed"),
    ("price as float", product_body(price_cents=19.99), "validation_failed"),
    ("negative price", product_body(price_cents=-1), "validation_failed"),
    ("absurd price", product_body(price_cents=10**15), "validation_failed"),
    ("price beyond int64", product_body(price_cents=2**70), "validation_failed"),
    ("negative stock", product_body(stock=-5), "validation_failed"),
    ("absurd stock", product_body(stock=10**12), "validation_failed"),
    ("stock as bool", product_body(stock=True), "validation_failed"),
    ("lowercase currency", product_body(currency="eur"), "validation_failed"),
    ("long currency", product_body(currency="EURO"), "validation_failed"),
    ("currency with newline", product_body(currency="EUR\n"), "validation_failed"),
    ("sku with newline", product_body(sku="SKU-1\n"), "validation_failed"),
    ("NUL in name", product_body(name="Mug\x00"), "validation_failed"),
    ("NUL in description", product_body(description="a\x00b"), "validation_failed"),
    ("empty name", product_body(name=""), "validation_failed"),
    ("blank name", product_body(name="   "), "validation_failed"),
    # Blank as both Python and the OpenAPI document (ECMA-262) count it: one rule on both sides.
    ("name of an information separator", product_body(name="\x1d"), "validation_failed"),
    ("name of a byte-order mark", product_body(name="\ufeff "), "validation_failed"),
    ("long name", product_body(name="x" * 201), "validation_failed"),
    # Controls and bidi marks reorder or hide text where names are shown and logged.
    ("name with a terminal escape", product_body(name="Mug\x1b[2J"), "validation_failed"),
    ("name with a line feed", product_body(name="Mug\nX"), "validation_failed"),
    ("name with a C1 control", product_body(name="Mug\x9b"), "validation_failed"),
    ("name with DEL", product_body(name="Mug\x7f"), "validation_failed"),
    (
        "name with a right-to-left override",
        product_body(name="Mug \u202egpj.exe"),
        "validation_failed",
    ),
    ("name with a bidi isolate", product_body(name="Mug \u2067x\u2069"), "validation_failed"),
    ("name with a right-to-left mark", product_body(name="Mug\u200f"), "validation_failed"),
    ("long description", product_body(description="x" * 5001), "validation_failed"),
    ("sku with spaces", product_body(sku="A B"), "validation_failed"),
    ("empty sku", product_body(sku=""), "validation_failed"),
    ("null name", product_body(name=None), "validation_failed"),
    ("unknown field", product_body(colour="red"), "validation_failed"),
    ("read-only id", product_body(id=5), "validation_failed"),
]


async def send(client: TestClient, method: str, path: str, payload: Any) -> Any:
    if payload is NOT_JSON:
        return await client.request(method, path, data=b'{"sku": "A",', headers=JSON_TYPE)
    if isinstance(payload, bytes):
        return await client.request(method, path, data=payload, headers=JSON_TYPE)
    return await client.request(method, path, json=payload)


JSON_TYPE = {"Content-Type": "application/json"}


@pytest.mark.parametrize(("case", "payload", "code"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_bad_product_bodies(
    seeded: TestClient, method: str, case: str, payload: Any, code: str
) -> None:
    path = "/products" if method == "POST" else "/products/1"
    await expect_error(await send(seeded, method, path, payload), 400, code)
    # Nothing was written.
    assert (await (await seeded.get("/products")).json())["total"] == 45


@pytest.mark.parametrize(
    ("case", "payload"),
    [
        ("negative stock", {"stock": -1}),
        ("price as string", {"price_cents": "5"}),
        ("unknown field", {"colour": "red"}),
        ("null", {"name": None}),
        ("not an object", [1]),
    ],
)
async def test_bad_patches(seeded: TestClient, case: str, payload: Any) -> None:
    await expect_error(await seeded.patch("/products/1", json=payload), 400, "validation_failed")


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
async def test_oversized_body_is_413(product_config: Any, aiohttp_client: Any, method: str) -> None:
    from shopnet.product.app import create_app

    client = await aiohttp_client(create_app(product_config(max_body_bytes=4096)))
    path = "/products" if method == "POST" else "/products/1"
    body = product_body(description="x" * 10_000)
    await expect_error(await client.request(method, path, json=body), 413, "payload_too_large")


@pytest.mark.parametrize(
    "path",
    [
        "/products/abc",
        "/products/0",
        "/products/-1",
        "/products/1.5",
        "/products/%C2%B2",  # "²": a digit to str.isdigit(), not to int()
        "/products/99999999999999999999",  # beyond bigint
        "/products/%20",
    ],
)
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
async def test_bad_ids_are_400(seeded: TestClient, method: str, path: str) -> None:
    resp = await seeded.request(method, path, json=product_body() if method == "PUT" else {})
    await expect_error(resp, 400, "validation_failed")


@pytest.mark.parametrize(
    "query",
    [
        "page=0",
        "page=-1",
        "page=abc",
        "page=1.5",
        "page_size=0",
        "page_size=1000",
        "page_size=abc",
        "min_price_cents=-1",
        "max_price_cents=abc",
        "min_price_cents=99999999999999",
        "in_stock=maybe",
        "currency=EURO",
        "currency=E1R",
        "currency=EUR%0A",
        "q=mug%00",
        "ids=1,x",
        "ids=0",
        "ids=-3",
        "ids=1,,2",
        "ids=",
        "ids=" + ",".join(str(i) for i in range(1, 102)),
        "ids=99999999999999999999",
        "ids=1234567890123456789",  # 19 digits: more than ?ids= takes
        "ids=007",
        "nope=1",
        "page=1&Page=2",
        "ids=1, 2",
        # Python's int() refuses more than 4,300 digits: checked before any conversion.
        "ids=" + "9" * 4301,
        "ids=1," + "1" * 5000,
        "page=" + "9" * 4301,
        "page_size=" + "0" * 4300 + "5",
        "min_price_cents=" + "9" * 4301,
        "page=1_0",
        "page=+1",
        "page=%201",
        "q=" + "x" * 201,
    ],
)
async def test_bad_list_queries_are_400(seeded: TestClient, query: str) -> None:
    await expect_error(await seeded.get(f"/products?{query}"), 400, "validation_failed")


async def test_an_empty_price_range_matches_nothing(seeded: TestClient) -> None:
    """min > max is no error (OpenAPI cannot relate two parameters): it matches nothing."""
    resp = await seeded.get("/products?min_price_cents=500&max_price_cents=100")
    assert resp.status == 200
    assert (await resp.json())["items"] == []


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
async def test_a_4301_digit_id_is_400_not_500(seeded: TestClient, method: str) -> None:
    for digits in ("9" * 4301, "1" * 20, "0" * 4301 + "1", "9223372036854775808"):
        resp = await seeded.request(method, f"/products/{digits}", json=product_body())
        await expect_error(resp, 400, "validation_failed")


async def test_unknown_route_and_wrong_method_are_json(seeded: TestClient) -> None:
    await expect_error(await seeded.get("/nope"), 404, "not_found")
    resp = await seeded.post("/products/1", json=product_body())
    await expect_error(resp, 405, "method_not_allowed")
    assert "GET" in resp.headers["Allow"]
