"""What goes over the wire: request bodies (validated while decoded), list queries, product JSON.

A product's JSON is produced in exactly one place (`encode_product`), so the bytes
the cache stores are the bytes a database read would have produced.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
import orjson

from shopnet.common.http import BadRequest
from shopnet.common.validation import Page, query_int

MAX_PRICE_CENTS = 1_000_000_000
MAX_STOCK = 1_000_000_000
MAX_IDS = 100
MAX_QUERY_LENGTH = 200

# \Z, not $: Python's $ also matches before a final newline ("EUR\n" would pass here and
# then break the database's CHECK, a 500 instead of a 400).
SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z"
# Blank, spelled out: Python's \s also takes \x1c-\x1f and \x85, ECMA-262's (the OpenAPI
# document's) takes \ufeff; both count all of these as blank, so a name of "\x1d" means the same.
BLANK = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
# Control characters (C0, DEL, C1) and the bidirectional formatting marks (ALM, LRM, RLM,
# the embeddings and overrides, the isolates): a name is shown to people and written to
# terminals and logs, where these reorder or hide text ("Trojan Source").
CONTROLS = r"\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
NAME_PATTERN = rf"^(?=[^{CONTROLS}]*\Z)[\s\S]*?[^{BLANK}]"
DESCRIPTION_PATTERN = r"^[^\x00]*\Z"
CURRENCY_PATTERN = r"^[A-Z]{3}\Z"
Sku = Annotated[str, msgspec.Meta(pattern=SKU_PATTERN)]
# PostgreSQL text cannot hold NUL: refuse it here (a 400) rather than in the driver (a 500);
# a name holds no CONTROLS at all, and needs one non-blank character (the lookahead keeps
# the match linear).
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NAME_PATTERN)]
Description = Annotated[str, msgspec.Meta(max_length=5000, pattern=DESCRIPTION_PATTERN)]
PriceCents = Annotated[int, msgspec.Meta(ge=0, le=MAX_PRICE_CENTS)]
Currency = Annotated[str, msgspec.Meta(pattern=CURRENCY_PATTERN)]
Stock = Annotated[int, msgspec.Meta(ge=0, le=MAX_STOCK)]

# Column order of a product everywhere (SELECT lists, JSON keys).
COLUMNS = ("id", "sku", "name", "description", "price_cents", "currency", "stock", "updated_at")
WRITABLE = ("sku", "name", "description", "price_cents", "currency", "stock")


class ProductIn(msgspec.Struct, forbid_unknown_fields=True):
    """POST and PUT body: every writable field (PUT replaces them all)."""

    sku: Sku
    name: Name
    price_cents: PriceCents
    currency: Currency
    stock: Stock
    description: Description = ""


class ProductPatch(msgspec.Struct, forbid_unknown_fields=True):
    """PATCH body: any subset of the writable fields."""

    sku: Sku | msgspec.UnsetType = msgspec.UNSET
    name: Name | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    price_cents: PriceCents | msgspec.UnsetType = msgspec.UNSET
    currency: Currency | msgspec.UnsetType = msgspec.UNSET
    stock: Stock | msgspec.UnsetType = msgspec.UNSET

    def changes(self) -> dict[str, Any]:
        return {f: v for f in WRITABLE if (v := getattr(self, f)) is not msgspec.UNSET}


def encode_product(row: Mapping[str, Any]) -> bytes:
    """A product as JSON; `updated_at` in ISO 8601 UTC with a `Z`."""
    return orjson.dumps({c: row[c] for c in COLUMNS}, option=orjson.OPT_UTC_Z)


def encode_page(rows: list[Mapping[str, Any]], page: Page, total: int) -> bytes:
    return orjson.dumps(
        {
            "items": [{c: r[c] for c in COLUMNS} for r in rows],
            "page": page.page,
            "page_size": page.page_size,
            "total": total,
        },
        option=orjson.OPT_UTC_Z,
    )


_CURRENCY = re.compile(r"[A-Za-z]{3}")
# Ids in ?ids=: at most 18 digits, so every one fits in int64 and the rule is one regular
# expression the OpenAPI document can state exactly (IDS_PATTERN).
IDS_DIGITS = 18
_ID_IN_LIST = rf"[1-9][0-9]{{0,{IDS_DIGITS - 1}}}"
IDS_PATTERN = rf"^{_ID_IN_LIST}(,{_ID_IN_LIST}){{0,{MAX_IDS - 1}}}\Z"
_IDS = re.compile(IDS_PATTERN)


LIST_PARAMETERS = (
    "page",
    "page_size",
    "q",
    "min_price_cents",
    "max_price_cents",
    "currency",
    "in_stock",
    "ids",
)


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A validated `GET /products` query: filters and a page."""

    page: Page
    q: str | None = None
    min_price_cents: int | None = None
    max_price_cents: int | None = None
    currency: str | None = None
    in_stock: bool | None = None
    ids: tuple[int, ...] | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> ListQuery:
        q = query.get("q") or None
        if q is not None and len(q) > MAX_QUERY_LENGTH:
            raise _invalid(f"q is longer than {MAX_QUERY_LENGTH} characters")
        if q is not None and "\x00" in q:
            raise _invalid("q must not contain NUL characters")
        low = _optional_int(query, "min_price_cents")
        high = _optional_int(query, "max_price_cents")
        currency = query.get("currency") or None
        if currency is not None:
            if not _CURRENCY.fullmatch(currency):
                raise _invalid("currency must be three letters, e.g. EUR")
            currency = currency.upper()
        return cls(
            page=Page.from_query(query),
            q=q,
            min_price_cents=low,
            max_price_cents=high,
            currency=currency,
            in_stock=_optional_bool(query, "in_stock"),
            ids=_ids(query.get("ids")),
        )

    def cache_key(self) -> str:
        """A canonical text of the query: equal queries, equal keys (and no separators clash)."""
        return orjson.dumps(
            [
                self.page.page,
                self.page.page_size,
                self.q,
                self.min_price_cents,
                self.max_price_cents,
                self.currency,
                self.in_stock,
                self.ids,
            ]
        ).decode()


def _invalid(message: str) -> BadRequest:
    return BadRequest(message, code="validation_failed")


def _optional_int(query: Mapping[str, str], name: str) -> int | None:
    if name not in query:
        return None
    return query_int(query, name, default=0, minimum=0, maximum=MAX_PRICE_CENTS)


def _optional_bool(query: Mapping[str, str], name: str) -> bool | None:
    raw = query.get(name)
    if not raw:
        return None
    value = {"true": True, "1": True, "false": False, "0": False}.get(raw.lower())
    if value is None:
        raise _invalid(f"{name} must be true or false")
    return value


def _ids(raw: str | None) -> tuple[int, ...] | None:
    if raw is None:
        return None
    if not _IDS.fullmatch(raw):
        raise _invalid(
            f"ids must be 1-{MAX_IDS} comma-separated ids (1-{IDS_DIGITS} digits, no leading 0)"
        )
    ids = [int(part) for part in raw.split(",")]
    # Sorted and unique: the same set of ids is the same query (and the same cache key).
    return tuple(sorted(set(ids)))
