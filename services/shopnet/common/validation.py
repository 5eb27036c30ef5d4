"""Request validation: JSON bodies decoded straight into typed structs, and query parameters.

msgspec checks types and bounds while it decodes and names the offending field
(`Expected int >= 1 - at $.items[0].quantity`), so every bad input becomes a
precise 400 instead of a KeyError deep in a handler.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

import msgspec
from aiohttp import web

from shopnet.common.http import BadRequest

MAX_PAGE_SIZE = 100

T = TypeVar("T")


async def decode_body(request: web.Request, kind: type[T]) -> T:
    """Read the request body (bounded by the app's size limit) as JSON of type `kind`."""
    if not request.body_exists:
        raise BadRequest("a JSON body is required", code="invalid_json")
    body = await request.read()
    try:
        return msgspec.json.decode(body, type=kind, strict=True)
    except msgspec.ValidationError as exc:
        raise BadRequest(str(exc), code="validation_failed") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # invalid UTF-8 in a string
        raise BadRequest(f"body is not valid JSON: {exc}", code="invalid_json") from None


def query_int(
    query: Mapping[str, str], name: str, *, default: int, minimum: int, maximum: int
) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(
            f"query parameter {name!r} must be an integer", code="validation_failed"
        ) from None
    if not minimum <= value <= maximum:
        raise BadRequest(
            f"query parameter {name!r} must be between {minimum} and {maximum}",
            code="validation_failed",
        )
    return value


def path_int(request: web.Request, name: str, *, maximum: int = 2**63 - 1) -> int:
    """A positive integer path segment (ids); anything else is a 400."""
    raw = request.match_info[name]
    # isascii: str.isdigit() accepts "²", which int() then rejects (a 500, not a 400).
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) <= maximum:
        raise BadRequest(f"{name} must be a positive integer", code="validation_failed")
    return int(raw)


@dataclass(frozen=True, slots=True)
class Page:
    """A validated `?page=&page_size=` pair."""

    page: int
    page_size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size

    @classmethod
    def from_query(cls, query: Mapping[str, str], *, default_size: int = 20) -> Page:
        return cls(
            page=query_int(query, "page", default=1, minimum=1, maximum=1_000_000),
            page_size=query_int(
                query, "page_size", default=default_size, minimum=1, maximum=MAX_PAGE_SIZE
            ),
        )
