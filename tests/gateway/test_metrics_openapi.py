"""/metrics and /api/openapi.json."""

from __future__ import annotations

from typing import Any

from tests.gateway.conftest import Stack, admin


async def test_metrics_carry_requests_and_gateway_collectors(stack: Stack) -> None:
    await stack.upstream("product-1")
    gateway = await stack.gateway(expect={"product": 1})
    for _ in range(3):
        assert (await gateway.get("/api/products/1")).status == 200
    assert (await gateway.get("/api/orders/1")).status == 503
    resp = await admin(gateway).get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    text = await resp.text()
    for sample in (
        'shopnet_http_requests_total{method="GET",route="/api/products/{tail}",status="200"} 3.0',
        'shopnet_http_requests_total{method="GET",route="/api/orders/{tail}",status="503"} 1.0',
        'shopnet_http_request_duration_seconds_count{route="/api/products/{tail}"} 3.0',
        'shopnet_gateway_upstream_errors_total{kind="connect",service="product"} 0.0',
        'shopnet_gateway_upstream_errors_total{kind="timeout",service="order"} 0.0',
        'shopnet_gateway_retries_total{service="product"} 0.0',
        'shopnet_gateway_ejections_total{service="product"} 0.0',
        'shopnet_gateway_healthy_instances{service="product"} 1.0',
        'shopnet_gateway_healthy_instances{service="order"} 0.0',
    ):
        assert sample in text, sample


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


async def test_openapi_document(stack: Stack) -> None:
    gateway = await stack.gateway()
    resp = await gateway.get("/api/openapi.json")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/json"
    doc = await resp.json()
    assert doc["openapi"] == "3.1.0"
    operations = {
        (path, method)
        for path, item in doc["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert {
        ("/api/products", "get"),
        ("/api/products", "post"),
        ("/api/products/{id}", "get"),
        ("/api/products/{id}", "put"),
        ("/api/products/{id}", "delete"),
        ("/api/orders", "post"),
        ("/api/orders", "get"),
        ("/api/orders/{id}", "get"),
        ("/api/orders/{id}/cancel", "post"),
    } <= operations
    for ref in refs(doc):  # every reference resolves
        resolve(doc, ref)
    schemas = doc["components"]["schemas"]
    assert set(schemas["Product"]["required"]) == {
        "id",
        "sku",
        "name",
        "description",
        "price_cents",
        "currency",
        "stock",
        "updated_at",
    }
    assert set(schemas["ProductList"]["required"]) == {"items", "page", "page_size", "total"}
    assert set(schemas["Order"]["required"]) == {
        "id",
        "customer_id",
        "items",
        "total_cents",
        "currency",
        "status",
        "created_at",
    }
    assert set(schemas["OrderItem"]["required"]) == {"product_id", "quantity", "unit_price_cents"}
    assert set(schemas["Error"]["properties"]["error"]["required"]) == {
        "code",
        "message",
        "request_id",
    }
    assert set(doc["components"]["headers"]) >= {
        "X-Request-ID",
        "X-Served-By",
        "X-Cache",
        "Retry-After",
    }
    create_order = doc["paths"]["/api/orders"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in create_order["parameters"])
    assert "201" in create_order["responses"]
    cached = doc["paths"]["/api/products/{id}"]["get"]["responses"]["200"]["headers"]
    assert "X-Cache" in cached
    for path, item in doc["paths"].items():  # every operation documents its answers
        for method, operation in item.items():
            if method != "parameters":
                assert operation["responses"], (path, method)


async def test_made_up_methods_do_not_become_label_values(stack: Stack) -> None:
    await stack.upstream("product-1")
    gateway = await stack.gateway(expect={"product": 1})
    # Methods HTTP parsers accept but nobody here serves (llhttp refuses made-up ones
    # before any handler runs).
    for verb in ("PROPFIND", "MKCOL", "PURGE"):
        await gateway.request(verb, "/api/products/1")
    text = await (await admin(gateway).get("/metrics")).text()
    assert 'method="OTHER"' in text
    assert "PROPFIND" not in text and "PURGE" not in text
