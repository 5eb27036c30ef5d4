"""The OpenAPI document's components, built from the services' own rules.

Every bound and pattern here comes from the constant the server validates with
(shopnet.product.schemas, shopnet.order.schemas), so the document cannot drift
from the code. Patterns: the server's Python patterns end in `\\Z`; JSON Schema
patterns are ECMA-262, where `$` is the end of the input — but tools that
generate data from them (Hypothesis) use Python's `re`, where `$` also matches
before a final newline. `(?![\\s\\S])` ("no character follows") means the same in
both, so every end anchor is written that way.
"""

from __future__ import annotations

from typing import Any

from shopnet.common.validation import MAX_PAGE, MAX_PAGE_SIZE
from shopnet.order import idempotency
from shopnet.order import schemas as order
from shopnet.product import schemas as product

END = r"(?![\s\S])"
INT64_MAX = 2**63 - 1


def portable(pattern: str) -> str:
    """A server pattern (with `\\Z`) as one that means the same in ECMA-262 and Python."""
    return pattern.replace(r"\Z", END)


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def closed(required: list[str], properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An object with exactly these properties (no others)."""
    return {
        "type": "object",
        "required": required,
        "additionalProperties": False,
        "properties": properties,
        **extra,
    }


def integer(minimum: int, maximum: int, **extra: Any) -> dict[str, Any]:
    return {"type": "integer", "minimum": minimum, "maximum": maximum, **extra}


ID = integer(1, INT64_MAX, format="int64")
CURRENCY = {"type": "string", "pattern": portable(product.CURRENCY_PATTERN), "examples": ["EUR"]}
PRICE = integer(0, product.MAX_PRICE_CENTS)
STOCK = integer(0, product.MAX_STOCK)
SKU = {"type": "string", "pattern": portable(product.SKU_PATTERN), "maxLength": 64}
NAME = {
    "type": "string",
    "minLength": 1,
    "maxLength": 200,
    "pattern": portable(product.NAME_PATTERN),
    "description": "At least one non-blank character; no NUL.",
}
DESCRIPTION = {
    "type": "string",
    "maxLength": 5000,
    "pattern": portable(product.DESCRIPTION_PATTERN),
}
CUSTOMER = {"type": "string", "pattern": portable(order.CUSTOMER_PATTERN), "examples": ["c-42"]}
ORDER_ID = {"type": "string", "format": "uuid", "pattern": portable(order.UUID_PATTERN)}
QUANTITY = integer(1, order.MAX_QUANTITY)


def page_of(schema: str) -> dict[str, Any]:
    """A page of a list endpoint: {"items", "page", "page_size", "total"}."""
    return closed(
        ["items", "page", "page_size", "total"],
        {
            "items": {"type": "array", "items": ref(schema), "maxItems": MAX_PAGE_SIZE},
            "page": integer(1, MAX_PAGE),
            "page_size": integer(1, MAX_PAGE_SIZE),
            "total": {"type": "integer", "minimum": 0},
        },
    )


_PRODUCT_FIELDS = {
    "sku": SKU,
    "name": NAME,
    "description": DESCRIPTION,
    "price_cents": PRICE,
    "currency": CURRENCY,
    "stock": STOCK,
}

ERROR_CODES = [
    "bad_request",
    "invalid_json",
    "validation_failed",
    "unauthorized",
    "not_found",
    "method_not_allowed",
    "request_timeout",
    "conflict",
    "insufficient_stock",
    "idempotency_key_in_flight",
    "payload_too_large",
    "unprocessable",
    "unknown_products",
    "mixed_currencies",
    "duplicate_products",
    "idempotency_key_reused",
    "internal",
    "bad_gateway",
    "unavailable",
    "gateway_timeout",
    "deadline_exceeded",
]

SCHEMAS: dict[str, Any] = {
    "Product": closed(
        [*_PRODUCT_FIELDS, "id", "updated_at"],
        {
            "id": ID,
            **_PRODUCT_FIELDS,
            "updated_at": {"type": "string", "format": "date-time"},
        },
    ),
    "ProductInput": closed(
        ["sku", "name", "price_cents", "currency", "stock"],
        _PRODUCT_FIELDS,
        description="The writable fields of a product (PUT replaces all of them).",
    ),
    "ProductPatch": closed(
        [],
        _PRODUCT_FIELDS,
        description="Some writable fields of a product ({} changes nothing).",
    ),
    "ProductList": page_of("Product"),
    "OrderItemInput": closed(["product_id", "quantity"], {"product_id": ID, "quantity": QUANTITY}),
    "OrderInput": closed(
        ["customer_id", "items"],
        {
            "customer_id": CUSTOMER,
            "items": {
                "type": "array",
                "minItems": 1,
                "maxItems": order.MAX_LINES,
                "items": ref("OrderItemInput"),
                "description": "One line per product (a repeated product_id is a 422).",
            },
        },
    ),
    "OrderItem": closed(
        ["product_id", "quantity", "unit_price_cents"],
        {"product_id": ID, "quantity": QUANTITY, "unit_price_cents": PRICE},
    ),
    "Order": closed(
        ["id", "customer_id", "items", "total_cents", "currency", "status", "created_at"],
        {
            "id": ORDER_ID,
            "customer_id": CUSTOMER,
            "items": {
                "type": "array",
                "minItems": 1,
                "maxItems": order.MAX_LINES,
                "items": ref("OrderItem"),
            },
            "total_cents": {"type": "integer", "minimum": 0},
            "currency": CURRENCY,
            "status": {"type": "string", "enum": ["placed", "cancelled"]},
            "created_at": {"type": "string", "format": "date-time"},
        },
    ),
    "OrderList": page_of("Order"),
    "Error": closed(
        ["error"],
        {
            "error": closed(
                ["code", "message", "request_id"],
                {
                    "code": {
                        "type": "string",
                        "description": "Stable machine-readable code.",
                        "examples": ERROR_CODES,
                    },
                    "message": {"type": "string"},
                    "request_id": {"type": ["string", "null"]},
                    "details": {"description": "Machine-readable particulars, when useful."},
                },
            )
        },
    ),
}

# The Idempotency-Key field: an sf-string (RFC 8941) of 1-255 characters, or the same
# characters as a bare token (see shopnet.order.idempotency).
_QUOTED_CHAR = r'[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\]'
_BARE_EDGE = r"[\x21\x23-\x5b\x5d-\x7e]"
_BARE_INNER = r"[\x20\x21\x23-\x5b\x5d-\x7e]"
_MAX = idempotency.MAX_KEY_LENGTH
IDEMPOTENCY_KEY_PATTERN = (
    rf'^("({_QUOTED_CHAR}){{1,{_MAX}}}"|{_BARE_EDGE}({_BARE_INNER}{{0,{_MAX - 2}}}{_BARE_EDGE})?)'
    + END
)
