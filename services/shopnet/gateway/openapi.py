"""The public API as an OpenAPI 3.1 document, served at `GET /api/openapi.json`.

The shapes are the contract the product and order services, the docs and the
clients share (extend, don't rename). It is exact: every rule the services enforce
is declared (closed objects, patterns, bounds, every error status with the error
schema) and nothing they refuse is declared valid — tests/contract checks that with
schemathesis against a running stack. Built once at start; served as bytes.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from shopnet import __version__
from shopnet.common.http import JSON, dumps
from shopnet.common.validation import MAX_PAGE, MAX_PAGE_SIZE
from shopnet.gateway import openapi_schemas as s
from shopnet.product import schemas as product

OPENAPI_BYTES = web.AppKey("openapi_bytes", bytes)


def _json(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}, **extra}


def _error(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


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
        "schema": {"type": "integer", "minimum": 0},
    },
    "Location": {"description": "URL of the created resource.", "schema": {"type": "string"}},
    "Idempotent-Replayed": {
        "description": "Present on the stored answer to an earlier request with this "
        "Idempotency-Key (status and body as they were first sent).",
        "schema": {"type": "string", "enum": ["true"]},
    },
}

_COMMON = {
    "X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"},
    "X-Served-By": {"$ref": "#/components/headers/X-Served-By"},
}
_CACHED = {**_COMMON, "X-Cache": {"$ref": "#/components/headers/X-Cache"}}
_CREATED = {**_COMMON, "Location": {"$ref": "#/components/headers/Location"}}
_RETRY = {**_COMMON, "Retry-After": {"$ref": "#/components/headers/Retry-After"}}

_ERRORS = {
    "400": ("BadRequest", "Invalid input (JSON, types, bounds, patterns, query parameters)."),
    "404": ("NotFound", "No such resource."),
    "408": ("RequestTimeout", "The request's head or body did not arrive in time."),
    "409": (
        "Conflict",
        "Conflicts with the current state: a duplicate sku, not enough stock "
        "(insufficient_stock), or a request with this Idempotency-Key still in flight.",
    ),
    "413": ("PayloadTooLarge", "The request body is larger than the limit."),
    "422": (
        "Unprocessable",
        "Well-formed but not acceptable: unknown or repeated products, mixed currencies, "
        "an Idempotency-Key used before for another request.",
    ),
    "401": (
        "Unauthorized",
        "No token where one is needed, or a token that is malformed, expired or not this "
        "stack's (even on a public read). WWW-Authenticate says Bearer.",
    ),
    "403": (
        "Forbidden",
        "The token is valid but not enough: a customer's token for a catalog change, or "
        "another customer's order.",
    ),
    "429": (
        "RateLimited",
        "Too many requests from this customer token or, without a token, this client address; "
        "Retry-After says when to try again. Admin tokens are not limited.",
    ),
    "502": ("BadGateway", "No upstream instance could be reached, or it answered nonsense."),
    "503": ("Unavailable", "No healthy instance, or a dependency is down."),
    "504": ("GatewayTimeout", "Not answered within the time budget."),
}
_RESPONSES: dict[str, Any] = {
    name: _json(s.ref("Error"), text, headers=_RETRY if status in {"429", "503"} else _COMMON)
    for status, (name, text) in _ERRORS.items()
}
_RESPONSES["OtherError"] = _json(s.ref("Error"), "Any other error, in the same shape.")


def _answers(ok: dict[str, Any], *statuses: str) -> dict[str, Any]:
    """`ok` and the listed error statuses, plus what any proxied request may meet (a slow
    client, a body too large, upstream failures) and `default`: every error is JSON."""
    errors = {code: _error(_ERRORS[code][0]) for code in sorted({*statuses, *_PROXY_ERRORS})}
    return {**ok, **errors, "default": _error("OtherError")}


_PROXY_ERRORS = ("400", "401", "408", "413", "429", "502", "503", "504")


def _query(name: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, **extra}


def _optional_text(pattern: str, description: str) -> dict[str, Any]:
    """A query value that may also be empty (the filter is then off)."""
    return {"type": "string", "pattern": f"^({pattern})?{s.END}", "description": description}


_PAGE_PARAMETERS = [
    _query("page", s.integer(1, MAX_PAGE, default=1)),
    _query("page_size", s.integer(1, MAX_PAGE_SIZE, default=20)),
]
_PRODUCT_ID = {"name": "id", "in": "path", "required": True, "schema": s.ID}
_ORDER_ID = {"name": "id", "in": "path", "required": True, "schema": s.ORDER_ID}
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "draft-ietf-httpapi-idempotency-key-header: a quoted string (a bare token "
    "is accepted too) of 1-255 printable ASCII characters, scoped to the customer. The same "
    "key and request within SHOPNET_IDEMPOTENCY_TTL_SECONDS (24 h) replays the first answer; "
    "another request with it is a 422, and a duplicate while the first runs a 409.",
    "schema": {"type": "string", "pattern": s.IDEMPOTENCY_KEY_PATTERN},
}


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": s.ref(name)}}}


def _links(**operations: str) -> dict[str, Any]:
    """Links from a created resource's id to the operations on it (for stateful clients)."""
    return {
        name: {"operationId": op, "parameters": {"id": "$response.body#/id"}}
        for name, op in operations.items()
    }


_PRODUCT_LINKS = _links(
    GetProduct="getProduct",
    ReplaceProduct="replaceProduct",
    UpdateProduct="updateProduct",
    DeleteProduct="deleteProduct",
)
_ORDER_LINKS = _links(GetOrder="getOrder", CancelOrder="cancelOrder")

_PATHS: dict[str, Any] = {
    "/api/products": {
        "get": {
            "operationId": "listProducts",
            "summary": "List products, ordered by id.",
            "parameters": [
                *_PAGE_PARAMETERS,
                _query(
                    "q",
                    {"type": "string", "maxLength": 200, "pattern": s.portable(r"^[^\x00]*\Z")},
                    description="Substring of the name or sku, any case (empty: no filter).",
                ),
                _query("min_price_cents", s.PRICE),
                _query("max_price_cents", s.PRICE),
                _query("currency", _optional_text("[A-Za-z]{3}", "Three letters, any case.")),
                _query(
                    "in_stock",
                    _optional_text(
                        "[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|[01]", "true/false (or 1/0)."
                    ),
                ),
                _query(
                    "ids",
                    {"type": "string", "pattern": s.portable(product.IDS_PATTERN)},
                    description=f"Comma-separated product ids (at most {product.MAX_IDS}).",
                    examples={"three": {"value": "1,2,3"}},
                ),
            ],
            "responses": _answers(
                {"200": _json(s.ref("ProductList"), "A page of products.", headers=_CACHED)}
            ),
        },
        "post": {
            "operationId": "createProduct",
            "summary": "Create a product.",
            "requestBody": _body("ProductInput"),
            "responses": _answers(
                {
                    "201": _json(
                        s.ref("Product"), "Created.", headers=_CREATED, links=_PRODUCT_LINKS
                    )
                },
                "409",
            ),
        },
    },
    "/api/products/{id}": {
        "parameters": [_PRODUCT_ID],
        "get": {
            "operationId": "getProduct",
            "summary": "One product.",
            "responses": _answers(
                {"200": _json(s.ref("Product"), "The product.", headers=_CACHED)}, "404"
            ),
        },
        "put": {
            "operationId": "replaceProduct",
            "summary": "Replace every writable field of a product.",
            "requestBody": _body("ProductInput"),
            "responses": _answers(
                {"200": _json(s.ref("Product"), "The updated product.", headers=_COMMON)},
                "404",
                "409",
            ),
        },
        "patch": {
            "operationId": "updateProduct",
            "summary": "Change some writable fields of a product.",
            "requestBody": _body("ProductPatch"),
            "responses": _answers(
                {"200": _json(s.ref("Product"), "The updated product.", headers=_COMMON)},
                "404",
                "409",
            ),
        },
        "delete": {
            "operationId": "deleteProduct",
            "summary": "Delete a product.",
            "responses": _answers({"204": {"description": "Deleted.", "headers": _COMMON}}, "404"),
        },
    },
    "/api/orders": {
        "get": {
            "operationId": "listOrders",
            "summary": "A customer's orders, newest first.",
            "parameters": [
                _query("customer_id", s.CUSTOMER, required=True),
                *_PAGE_PARAMETERS,
            ],
            "responses": _answers(
                {"200": _json(s.ref("OrderList"), "A page of orders.", headers=_COMMON)}
            ),
        },
        "post": {
            "operationId": "createOrder",
            "summary": "Place an order: its stock is reserved and its prices taken now.",
            "parameters": [_IDEMPOTENCY_KEY],
            "requestBody": _body("OrderInput"),
            "responses": _answers(
                {
                    "201": _json(
                        s.ref("Order"),
                        "Created — or, with Idempotent-Replayed, the stored answer to the "
                        "first request with this Idempotency-Key.",
                        headers={
                            **_CREATED,
                            "Idempotent-Replayed": {
                                "$ref": "#/components/headers/Idempotent-Replayed"
                            },
                        },
                        links=_ORDER_LINKS,
                    )
                },
                "409",
                "422",
            ),
        },
    },
    "/api/orders/{id}": {
        "parameters": [_ORDER_ID],
        "get": {
            "operationId": "getOrder",
            "summary": "One order.",
            "responses": _answers(
                {"200": _json(s.ref("Order"), "The order.", headers=_COMMON)}, "404"
            ),
        },
    },
    "/api/orders/{id}/cancel": {
        "parameters": [_ORDER_ID],
        "post": {
            "operationId": "cancelOrder",
            "summary": "Cancel an order and give its stock back (again: no change).",
            "responses": _answers(
                {"200": _json(s.ref("Order"), "The cancelled order.", headers=_COMMON)}, "404"
            ),
        },
    },
    "/api/openapi.json": {
        "get": {
            "operationId": "getOpenApi",
            "summary": "This document.",
            "responses": {
                "200": _json({"type": "object"}, "The OpenAPI document."),
                "default": _error("OtherError"),
            },
        }
    },
}


_SECURITY_SCHEMES = {
    "adminToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An admin's token (`shopnet token --admin`): may change the catalog "
        "and see every order; not rate-limited.",
    },
    "customerToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A customer's token (`shopnet token --customer NAME`): may place, "
        "read, list and cancel NAME's orders only.",
    },
}
_PUBLIC: list[dict[str, list[str]]] = [{}, {"adminToken": []}, {"customerToken": []}]
"""Catalog reads: no token needed (one given must be valid)."""
_ADMIN: list[dict[str, list[str]]] = [{"adminToken": []}]
_CALLER: list[dict[str, list[str]]] = [{"customerToken": []}, {"adminToken": []}]


def _secured(paths: dict[str, Any]) -> dict[str, Any]:
    """`paths` with each proxied operation's `security` and its 403 where a token may fall short."""
    out: dict[str, Any] = {}
    for path, operations in paths.items():
        out[path] = {}
        for method, operation in operations.items():
            if method == "parameters":
                out[path][method] = operation
                continue
            operation = dict(operation)
            if path.startswith("/api/products"):
                operation["security"] = _PUBLIC if method == "get" else _ADMIN
            elif path.startswith("/api/orders"):
                operation["security"] = _CALLER
            if operation.get("security") not in (None, _PUBLIC):
                operation["responses"] = {**operation["responses"], "403": _error("Forbidden")}
            out[path][method] = operation
    return out


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of everything served under /api."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "shopnet",
            "version": __version__,
            "description": "The public API of the shopnet stack, served by its gateway. "
            'Every error is JSON `{"error": {"code", "message", "request_id"}}`; every '
            "response carries X-Request-ID, and proxied ones X-Served-By. Catalog reads "
            "are public; catalog changes need an admin token, orders a customer's (its own "
            "orders only) or an admin's: `Authorization: Bearer <JWT>`.",
        },
        "paths": _secured(_PATHS),
        "components": {
            "schemas": s.SCHEMAS,
            "responses": _RESPONSES,
            "headers": _HEADERS,
            "securitySchemes": _SECURITY_SCHEMES,
        },
    }


async def openapi_handler(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI_BYTES], content_type=JSON)


def install(app: web.Application) -> None:
    app[OPENAPI_BYTES] = dumps(document())
    app.router.add_get("/api/openapi.json", openapi_handler)
