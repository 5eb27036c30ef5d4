"""Assertions and bodies the product and order tests share."""

from __future__ import annotations

from typing import Any

from aiohttp import ClientResponse


async def expect_error(
    resp: ClientResponse, status: int, code: str | None = None
) -> dict[str, Any]:
    """The response is our JSON error with `status` (and `code`); returns the error object."""
    text = await resp.text()
    assert resp.status == status, f"{resp.status} {text}"
    assert resp.content_type == "application/json", text
    error = (await resp.json())["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert error["request_id"] == resp.headers["X-Request-ID"]
    if code is not None:
        assert error["code"] == code, error
    return error


def product_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sku": "TEST-1",
        "name": "Test Mug",
        "description": "A mug made for tests.",
        "price_cents": 1999,
        "currency": "EUR",
        "stock": 10,
    }
    body.update(overrides)
    return body


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition (0 when absent)."""
    wanted = name + (
        "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""
    )
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
