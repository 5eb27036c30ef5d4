"""Request validation: JSON bodies decoded straight into typed structs, and query parameters.

msgspec checks types and bounds while it decodes and names the offending field
(`Expected int >= 1 - at $.items[0].quantity`), so every bad input becomes a
precise 400 instead of a KeyError deep in a handler.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

import msgspec
from aiohttp import web

from shopnet.common.app import CONFIG
from shopnet.common.http import BadRequest, RequestTimeout

MAX_PAGE_SIZE = 100
MAX_PAGE = 1_000_000
MAX_DEPTH = 32
"""Deepest nesting of arrays and objects in a JSON body: no API body nests more than a
few levels, and a decoder that recurses per level must not meet 1,000 (RecursionError,
a 500, from a 2 KB body)."""

T = TypeVar("T")


async def decode_body(request: web.Request, kind: type[T]) -> T:
    """Read the request body (bounded by the app's size limit) as JSON of type `kind`."""
    if not request.body_exists:
        raise BadRequest("a JSON body is required", code="invalid_json")
    body = await read_body(request)
    too_deep = BadRequest(f"body nests deeper than {MAX_DEPTH} levels", code="invalid_json")
    try:
        data = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # invalid UTF-8 in a string
        raise BadRequest(f"body is not valid JSON: {exc}", code="invalid_json") from None
    except RecursionError:  # msgspec's own bound (the interpreter's recursion limit)
        raise too_deep from None
    try:
        return msgspec.convert(_integral_floats_as_ints(data, 0), type=kind, strict=True)
    except _TooDeep:
        raise too_deep from None
    except msgspec.ValidationError as exc:
        raise BadRequest(str(exc), code="validation_failed") from None


async def read_body(request: web.Request) -> bytes:
    """The whole body (bounded by the app's size limit), within the service's body read
    timeout: a client trickling its body gets a 408, not a worker slot for an hour."""
    timeout = request.app[CONFIG].body_timeout_seconds
    try:
        async with asyncio.timeout(timeout):
            return await request.read()
    except TimeoutError:
        raise RequestTimeout(f"the request body did not arrive within {timeout:g}s") from None


class _TooDeep(Exception):
    """The body nests deeper than MAX_DEPTH."""


def _integral_floats_as_ints(value: object, depth: int) -> object:
    """`1.0` and `1e3` as the integers they are: JSON (and JSON Schema's "integer") does not
    tell 1.0 from 1, so an API that declares integers must accept both. 1.5 stays a float
    (and fails validation); so do infinities from huge literals. Nesting deeper than
    MAX_DEPTH raises _TooDeep."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, list | dict):
        if depth >= MAX_DEPTH:
            raise _TooDeep
        if isinstance(value, list):
            return [_integral_floats_as_ints(v, depth + 1) for v in value]
        return {k: _integral_floats_as_ints(v, depth + 1) for k, v in value.items()}
    return value


def bounded_int(raw: str, *, minimum: int, maximum: int) -> int | None:
    """`raw` as an int when it is plain decimal digits (an optional leading `-`) within
    [minimum, maximum]; otherwise None.

    The length is checked before int() runs: int() of more than 4,300 digits raises
    outside any validation (Python's int-digit limit), and "²", " 5", "+5" or "1_000"
    are not what an API client means by an integer.
    """
    digits = raw[1:] if raw.startswith("-") else raw
    if not (digits.isascii() and digits.isdigit()):
        return None
    if len(digits) > _most_digits(minimum, maximum):
        return None
    value = int(raw)
    return value if minimum <= value <= maximum else None


@functools.cache  # once per pair of bounds, not per id in every request path
def _most_digits(minimum: int, maximum: int) -> int:
    return len(str(max(abs(minimum), abs(maximum))))


def known_params(request: web.Request, *allowed: str) -> None:
    """400 when the query has a parameter not in `allowed`: the OpenAPI document lists each
    operation's parameters, so an unknown one is as invalid as an unknown body field."""
    if not request.rel_url.raw_query_string:
        return  # the common case, without parsing a query
    unknown = sorted({name for name in request.query if name not in allowed})
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:5])
        raise BadRequest(f"unknown query parameters: {shown}", code="validation_failed")


def query_int(
    query: Mapping[str, str], name: str, *, default: int, minimum: int, maximum: int
) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    value = bounded_int(raw, minimum=minimum, maximum=maximum)
    if value is None:
        raise BadRequest(
            f"query parameter {name!r} must be an integer between {minimum} and {maximum}",
            code="validation_failed",
        )
    return value


def path_int(request: web.Request, name: str, *, maximum: int = 2**63 - 1) -> int:
    """A positive integer path segment (ids); anything else is a 400."""
    value = bounded_int(request.match_info[name], minimum=1, maximum=maximum)
    if value is None:
        raise BadRequest(
            f"{name} must be an integer between 1 and {maximum}", code="validation_failed"
        )
    return value


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
            page=query_int(query, "page", default=1, minimum=1, maximum=MAX_PAGE),
            page_size=query_int(
                query, "page_size", default=default_size, minimum=1, maximum=MAX_PAGE_SIZE
            ),
        )
