"""The product API: the contract's shapes, CRUD, listing, filters and pagination."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp.test_utils import TestClient

from tests.product.helpers import expect_error, product_body

FIELDS = {"id", "sku", "name", "description", "price_cents", "currency", "stock", "updated_at"}


def parse_time(value: str) -> datetime:
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value)


async def test_create_then_get_has_the_contract_shape(products: TestClient) -> None:
    resp = await products.post("/products", json=product_body())
    assert resp.status == 201
    created = await resp.json()
    assert set(created) == FIELDS
    assert created["sku"] == "TEST-1" and created["price_cents"] == 1999
    assert isinstance(created["id"], int) and created["id"] > 0
    assert abs(parse_time(created["updated_at"]) - datetime.now(UTC)) < timedelta(minutes=1)
    assert resp.headers["Location"] == f"/products/{created['id']}"
    fetched = await products.get(resp.headers["Location"])
    assert fetched.status == 200
    assert await fetched.json() == created


async def test_description_defaults_to_empty(products: TestClient) -> None:
    body = product_body()
    del body["description"]
    created = await (await products.post("/products", json=body)).json()
    assert created["description"] == ""


async def test_put_replaces_every_writable_field(products: TestClient) -> None:
    created = await (await products.post("/products", json=product_body())).json()
    replacement = product_body(
        sku="TEST-2", name="Other", description="", price_cents=0, currency="USD", stock=0
    )
    resp = await products.put(f"/products/{created['id']}", json=replacement)
    assert resp.status == 200
    updated = await resp.json()
    assert {k: updated[k] for k in replacement} == replacement
    assert updated["id"] == created["id"]
    assert parse_time(updated["updated_at"]) >= parse_time(created["updated_at"])
    assert await (await products.get(f"/products/{created['id']}")).json() == updated


async def test_patch_changes_only_given_fields(products: TestClient) -> None:
    created = await (await products.post("/products", json=product_body())).json()
    resp = await products.patch(f"/products/{created['id']}", json={"stock": 3})
    assert resp.status == 200
    patched = await resp.json()
    assert patched["stock"] == 3
    assert {k: v for k, v in patched.items() if k not in {"stock", "updated_at"}} == {
        k: v for k, v in created.items() if k not in {"stock", "updated_at"}
    }
    # An empty patch changes nothing and answers the product as it is.
    same = await products.patch(f"/products/{created['id']}", json={})
    assert same.status == 200
    assert await same.json() == patched


async def test_delete_then_404(products: TestClient) -> None:
    created = await (await products.post("/products", json=product_body())).json()
    path = f"/products/{created['id']}"
    resp = await products.delete(path)
    assert resp.status == 204
    assert await resp.read() == b""
    await expect_error(await products.get(path), 404, "not_found")
    await expect_error(await products.delete(path), 404, "not_found")
    await expect_error(await products.put(path, json=product_body()), 404, "not_found")
    await expect_error(await products.patch(path, json={"stock": 1}), 404, "not_found")


async def test_duplicate_sku_is_409(products: TestClient) -> None:
    await products.post("/products", json=product_body(sku="DUP"))
    await expect_error(await products.post("/products", json=product_body(sku="DUP")), 409)
    other = await (await products.post("/products", json=product_body(sku="OTHER"))).json()
    path = f"/products/{other['id']}"
    await expect_error(await products.put(path, json=product_body(sku="DUP")), 409, "conflict")
    await expect_error(await products.patch(path, json={"sku": "DUP"}), 409, "conflict")
    # Keeping one's own sku is not a conflict.
    assert (await products.put(path, json=product_body(sku="OTHER", stock=1))).status == 200


async def test_list_pages_by_id_with_total(seeded: TestClient) -> None:
    first = await (await seeded.get("/products")).json()
    assert (first["page"], first["page_size"], first["total"]) == (1, 20, 45)
    assert [p["id"] for p in first["items"]] == list(range(1, 21))
    assert all(set(p) == FIELDS for p in first["items"])
    third = await (await seeded.get("/products?page=3&page_size=20")).json()
    assert [p["id"] for p in third["items"]] == list(range(41, 46))
    beyond = await (await seeded.get("/products?page=9&page_size=20")).json()
    assert beyond == {"items": [], "page": 9, "page_size": 20, "total": 45}
    everything = await (await seeded.get("/products?page_size=100")).json()
    assert [p["id"] for p in everything["items"]] == list(range(1, 46))


async def test_list_filters(seeded: TestClient) -> None:
    async def ids(query: str) -> tuple[list[int], int]:
        resp = await seeded.get(f"/products?page_size=100&{query}")
        assert resp.status == 200, await resp.text()
        data = await resp.json()
        return [p["id"] for p in data["items"]], data["total"]

    everything = (await (await seeded.get("/products?page_size=100")).json())["items"]

    def expected(keep) -> tuple[list[int], int]:
        chosen = [p["id"] for p in everything if keep(p)]
        return chosen, len(chosen)

    assert await ids("q=oak") == expected(lambda p: "oak" in p["name"].lower())
    assert await ids("q=sn-00001") == expected(lambda p: p["sku"].startswith("SN-00001"))
    assert await ids("min_price_cents=10000&max_price_cents=30000") == expected(
        lambda p: 10000 <= p["price_cents"] <= 30000
    )
    assert await ids("in_stock=false") == expected(lambda p: p["stock"] == 0)
    assert await ids("in_stock=true") == expected(lambda p: p["stock"] > 0)
    assert await ids("currency=eur") == expected(lambda p: True)
    assert await ids("currency=USD") == ([], 0)
    assert await ids("ids=7,3,3,999,12") == ([3, 7, 12], 3)
    assert await ids("ids=7,3,12&in_stock=true") == expected(
        lambda p: p["id"] in {3, 7, 12} and p["stock"] > 0
    )
    assert await ids("q=%25") == ([], 0)  # "%" is a character to look for, not a wildcard
    assert await ids("q=_") == ([], 0)


async def test_ids_filter_paginates_like_any_list(seeded: TestClient) -> None:
    ids = ",".join(str(i) for i in range(1, 46))
    data = await (await seeded.get(f"/products?ids={ids}")).json()
    assert data["total"] == 45 and len(data["items"]) == 20


async def test_special_characters_round_trip(products: TestClient) -> None:
    body = product_body(name='Tasse « café » 100% "quoted" ☕', description="a\nb\tc\\")
    created = await (await products.post("/products", json=body)).json()
    for _ in range(2):  # from the database, then from the cache
        got = await (await products.get(f"/products/{created['id']}")).json()
        assert got["name"] == body["name"] and got["description"] == body["description"]
    found = await (await products.get("/products?q=CAFÉ »")).json()
    assert [p["id"] for p in found["items"]] == [created["id"]]


async def test_health_ready_metrics(products: TestClient) -> None:
    assert (await products.get("/health")).status == 200
    ready = await (await products.get("/ready")).json()
    assert ready == {
        "status": "ready",
        "checks": {"postgres": {"status": "ok"}, "redis": {"status": "ok"}},
    }
    text = await (await products.get("/metrics")).text()
    assert "shopnet_cache_up 1.0" in text
