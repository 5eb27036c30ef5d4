"""The dashboard's packet-walk panel: POST /api/trace, and what a stack without a network says."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient

from shopnet.dashboard.server import create_app
from shopnet.trace.command import LOOPBACK_LINE
from tests.dashboard.test_server import WITH_TOKEN, config


async def test_a_flow_of_a_loopback_stack_has_nothing_to_trace(
    aiohttp_client, tmp_path: Path
) -> None:
    client: TestClient = await aiohttp_client(create_app(config(tmp_path)), headers=WITH_TOKEN)
    resp = await client.post("/api/trace", json={"source": "gateway-1", "target": "product-1"})
    assert resp.status == 200
    assert await resp.json() == {"available": False, "text": LOOPBACK_LINE}


async def test_names_and_ports_are_checked(aiohttp_client, tmp_path: Path) -> None:
    client: TestClient = await aiohttp_client(create_app(config(tmp_path)), headers=WITH_TOKEN)
    resp = await client.post("/api/trace", json={"source": "<img>", "target": "product-1"})
    assert (await resp.json())["available"] is False
    resp = await client.post("/api/trace", json={"source": "gateway-1"})
    assert resp.status == 400


async def test_the_page_wires_clicks_to_the_trace_with_text_only(
    aiohttp_client, tmp_path: Path
) -> None:
    client: TestClient = await aiohttp_client(create_app(config(tmp_path)), headers=WITH_TOKEN)
    script = await (await client.get("/static/dashboard.js")).text()
    body = script[script.index("async function showTrace") :]
    body = body[: body.index("loadPicture(null)")]
    assert '"/api/trace"' in body and "out.textContent = body.text" in body
    assert "innerHTML" not in body
    assert 'id="trace"' in await (await client.get("/")).text()
