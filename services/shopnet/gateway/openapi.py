"""The public API as an OpenAPI 3.1 document, served at `GET /api/openapi.json`.

The shapes are the contract the product and order services, the docs and the
clients share (extend, don't rename). Built once at start; served as bytes.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from shopnet import __version__
from shopnet.common.http import JSON, dumps

OPENAPI_BYTES = web.AppKey("openapi_bytes", bytes)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _page_of(schema: str) -> dict[str, Any]:
    """A page of a list endpoint: {"items", "page", "page_size", "total"}."""
    return {
        "type": "object",
        "required": ["items", "page", "page_size", "total"],
        "properties": {
            "items": {"type": "array", "items": _ref(schema)},
            "page": {"type": "integer", "minimum": 1},
            "page_size": {"type": "integer", "minimum": 1, "maximum": 100},
            "total": {"type": "integer", "minimum": 0},
        },
    }


def _json(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}, **extra}


def _error(description: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{description}"}


_ID = {"type": "integer", "minimum": 1, "format": "int64"}
_CURRENCY = {"type": "string", "pattern": "^[A-Z]{3}$", "examples": ["EUR"]}
_CENTS = {"type": "integer", "minimum": 0}

_SCHEMAS: dict[str, Any] = {
    "Product": {
        "type": "object",
        "required": [
            "id",
            "sku",
            "name",
            "description",
            "price_cents",
            "currency",
            "stock",
            "updated_at",
        ],
        "properties": {
            "id": _ID,
            "sku": {"type": "string"},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "price_cents": _CENTS,
            "currency": _CURRENCY,
            "stock": {"type": "integer", "minimum": 0},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    },
    "ProductInput": {
        "type": "object",
        "description": "The writable fields of a product (PUT replaces all of them).",
        "required": ["sku", "name", "price_cents", "currency", "stock"],
        "additionalProperties": False,
        "properties": {
            "sku": {"type": "string", "minLength": 1},
            "name": {"type": "string", "minLength": 1},
            "description": {"type": "string"},
            "price_cents": _CENTS,
            "currency": _CURRENCY,
            "stock": {"type": "integer", "minimum": 0},
        },
    },
    "ProductPatch": {
        "type": "object",
        "description": "Some writable fields of a product.",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "sku": {"type": "string", "minLength": 1},
            "name": {"type": "string", "minLength": 1},
            "description": {"type": "string"},
            "price_cents": _CENTS,
            "currency": _CURRENCY,
            "stock": {"type": "integer", "minimum": 0},
        },
    },
    "ProductList": _page_of("Product"),
    "OrderItemInput": {
        "type": "object",
        "required": ["product_id", "quantity"],
        "properties": {
            "product_id": _ID,
            "quantity": {"type": "integer", "minimum": 1, "maximum": 1000},
        },
    },
    "OrderInput": {
        "type": "object",
        "required": ["customer_id", "items"],
        "properties": {
            "customer_id": {"type": "string", "minLength": 1, "examples": ["c-42"]},
            "items": {
                "type": "array",
                "minItems": 1,
                "maxItems": 100,
                "items": _ref("OrderItemInput"),
            },
        },
    },
    "OrderItem": {
        "type": "object",
        "required": ["product_id", "quantity", "unit_price_cents"],
        "properties": {
            "product_id": _ID,
            "quantity": {"type": "integer", "minimum": 1},
            "unit_price_cents": _CENTS,
        },
    },
    "Order": {
        "type": "object",
        "required": ["id", "customer_id", "items", "total_cents", "currency", "created_at"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "customer_id": {"type": "string"},
            "items": {"type": "array", "items": _ref("OrderItem")},
            "total_cents": _CENTS,
            "currency": _CURRENCY,
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "OrderList": _page_of("Order"),
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "request_id"],
                "properties": {
                    "code": {
                        "type": "string",
                        "description": "Stable machine-readable code.",
                        "examples": [
                            "bad_request",
                            "invalid_json",
                            "validation_failed",
                            "not_found",
                            "conflict",
                            "payload_too_large",
                            "unprocessable",
                            "bad_gateway",
                            "unavailable",
                            "gateway_timeout",
                        ],
                    },
                    "message": {"type": "string"},
                    "request_id": {"type": ["string", "null"]},
                    "details": {},
                },
            }
        },
    },
}

_HEADERS: dict[str, Any] = {
    "X-Request-ID": {
        "description": "The request's id: the caller's when it sent a sane one "
        "(printable ASCII, at most 128 characters), otherwise a new one. Also sent upstream.",
        "schema": {"type": "string"},
    },
    "X-Served-By": {
        "description": "Id of the upstream instance that produced the response.",
        "schema": {"type": "string"},
    },
    "X-Cache": {
        "description": "Whether the product service answered from its cache.",
        "schema": {"type": "string", "enum": ["HIT", "MISS"]},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer"},
    },
    "Location": {"description": "URL of the created resource.", "schema": {"type": "string"}},
}

_COMMON = {
    "X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"},
    "X-Served-By": {"$ref": "#/components/headers/X-Served-By"},
}
_CACHED = {**_COMMON, "X-Cache": {"$ref": "#/components/headers/X-Cache"}}
_CREATED = {**_COMMON, "Location": {"$ref": "#/components/headers/Location"}}

_RESPONSES: dict[str, Any] = {
    "BadRequest": _json(_ref("Error"), "Invalid input (JSON, types, bounds, query parameters)."),
    "NotFound": _json(_ref("Error"), "No such resource."),
    "Conflict": _json(_ref("Error"), "Conflicts with existing data (e.g. duplicate sku)."),
    "PayloadTooLarge": _json(_ref("Error"), "The request body is larger than the limit."),
    "Unprocessable": _json(
        _ref("Error"),
        "Well-formed but not acceptable (unknown products, mixed currencies, "
        "an Idempotency-Key reused with a different body).",
    ),
    "BadGateway": _json(_ref("Error"), "No upstream instance could be reached."),
    "Unavailable": _json(
        _ref("Error"),
        "No healthy instance, or a dependency is down.",
        headers={"Retry-After": {"$ref": "#/components/headers/Retry-After"}},
    ),
    "GatewayTimeout": _json(_ref("Error"), "The upstream did not answer in time."),
}

_GATEWAY_ERRORS = {
    "413": _error("PayloadTooLarge"),
    "502": _error("BadGateway"),
    "503": _error("Unavailable"),
    "504": _error("GatewayTimeout"),
}

_PAGE_PARAMETERS = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
    {
        "name": "page_size",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
    },
]

_PRODUCT_ID = {"name": "id", "in": "path", "required": True, "schema": _ID}
_ORDER_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes a POST safe to repeat: the same key with the same body returns "
    "the original result instead of acting twice (and lets the gateway retry it).",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": _ref(name)}}}


_PATHS: dict[str, Any] = {
    "/api/products": {
        "get": {
            "operationId": "listProducts",
            "summary": "List products, ordered by id.",
            "parameters": [
                *_PAGE_PARAMETERS,
                {"name": "q", "in": "query", "schema": {"type": "string"}},
                {"name": "min_price_cents", "in": "query", "schema": _CENTS},
                {"name": "max_price_cents", "in": "query", "schema": _CENTS},
                {"name": "currency", "in": "query", "schema": _CURRENCY},
                {"name": "in_stock", "in": "query", "schema": {"type": "boolean"}},
                {
                    "name": "ids",
                    "in": "query",
                    "description": "Comma-separated product ids (at most 100).",
                    "schema": {"type": "string", "examples": ["1,2,3"]},
                },
            ],
            "responses": {
                "200": _json(_ref("ProductList"), "A page of products.", headers=_CACHED),
                "400": _error("BadRequest"),
                **_GATEWAY_ERRORS,
            },
        },
        "post": {
            "operationId": "createProduct",
            "summary": "Create a product.",
            "requestBody": _body("ProductInput"),
            "responses": {
                "201": _json(_ref("Product"), "Created.", headers=_CREATED),
                "400": _error("BadRequest"),
                "409": _error("Conflict"),
                **_GATEWAY_ERRORS,
            },
        },
    },
    "/api/products/{id}": {
        "parameters": [_PRODUCT_ID],
        "get": {
            "operationId": "getProduct",
            "summary": "One product.",
            "responses": {
                "200": _json(_ref("Product"), "The product.", headers=_CACHED),
                "400": _error("BadRequest"),
                "404": _error("NotFound"),
                **_GATEWAY_ERRORS,
            },
        },
        "put": {
            "operationId": "replaceProduct",
            "summary": "Replace every writable field of a product.",
            "requestBody": _body("ProductInput"),
            "responses": {
                "200": _json(_ref("Product"), "The updated product.", headers=_COMMON),
                "400": _error("BadRequest"),
                "404": _error("NotFound"),
                "409": _error("Conflict"),
                **_GATEWAY_ERRORS,
            },
        },
        "patch": {
            "operationId": "updateProduct",
            "summary": "Change some writable fields of a product.",
            "requestBody": _body("ProductPatch"),
            "responses": {
                "200": _json(_ref("Product"), "The updated product.", headers=_COMMON),
                "400": _error("BadRequest"),
                "404": _error("NotFound"),
                "409": _error("Conflict"),
                **_GATEWAY_ERRORS,
            },
        },
        "delete": {
            "operationId": "deleteProduct",
            "summary": "Delete a product.",
            "responses": {
                "204": {"description": "Deleted.", "headers": _COMMON},
                "400": _error("BadRequest"),
                "404": _error("NotFound"),
                **_GATEWAY_ERRORS,
            },
        },
    },
    "/api/orders": {
        "get": {
            "operationId": "listOrders",
            "summary": "A customer's orders, newest first.",
            "parameters": [
                {
                    "name": "customer_id",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string", "minLength": 1},
                },
                *_PAGE_PARAMETERS,
            ],
            "responses": {
                "200": _json(_ref("OrderList"), "A page of orders.", headers=_COMMON),
                "400": _error("BadRequest"),
                **_GATEWAY_ERRORS,
            },
        },
        "post": {
            "operationId": "createOrder",
            "summary": "Place an order; prices come from the product service.",
            "parameters": [_IDEMPOTENCY_KEY],
            "requestBody": _body("OrderInput"),
            "responses": {
                "201": _json(_ref("Order"), "Created.", headers=_CREATED),
                "200": _json(
                    _ref("Order"),
                    "A replay: the order first created with this Idempotency-Key.",
                    headers=_COMMON,
                ),
                "400": _error("BadRequest"),
                "422": _error("Unprocessable"),
                **_GATEWAY_ERRORS,
            },
        },
    },
    "/api/orders/{id}": {
        "parameters": [_ORDER_ID],
        "get": {
            "operationId": "getOrder",
            "summary": "One order.",
            "responses": {
                "200": _json(_ref("Order"), "The order.", headers=_COMMON),
                "400": _error("BadRequest"),
                "404": _error("NotFound"),
                **_GATEWAY_ERRORS,
            },
        },
    },
    "/api/openapi.json": {
        "get": {
            "operationId": "getOpenApi",
            "summary": "This document.",
            "responses": {"200": {"description": "The OpenAPI document."}},
        }
    },
}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of everything served under /api."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "shopnet",
            "version": __version__,
            "description": "The public API of the shopnet stack, served by its gateway. "
            'Every error is JSON `{"error": {"code", "message", "request_id"}}`; every '
            "response carries X-Request-ID, and proxied ones X-Served-By.",
        },
        "paths": _PATHS,
        "components": {"schemas": _SCHEMAS, "responses": _RESPONSES, "headers": _HEADERS},
    }


async def openapi_handler(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI_BYTES], content_type=JSON)


def install(app: web.Application) -> None:
    app[OPENAPI_BYTES] = dumps(document())
    app.router.add_get("/api/openapi.json", openapi_handler)
