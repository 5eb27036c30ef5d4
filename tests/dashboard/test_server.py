"""The dashboard app over HTTP, on a driver whose stack is not running (no root, no ports)."""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp.test_utils import TestClient

from shopnet.dashboard.panels import ChartDirs
from shopnet.dashboard.server import DashboardConfig, create_app
from shopnet.runtime.base import make_driver
from shopnet.runtime.progress import Progress
from shopnet.topology import default_topology

PNG = b"\x89PNG\r\n\x1a\n"


def config(tmp_path: Path) -> DashboardConfig:
    topology = default_topology()
    driver = make_driver(
        "local", topology=topology, root=tmp_path / "state", progress=Progress(quiet=True)
    )
    bench = tmp_path / "bench-results"
    for run in ("20260101-000000", "20260102-000000"):
        (bench / run).mkdir(parents=True)
        (bench / run / "throughput.png").write_bytes(PNG + run.encode())
    return DashboardConfig(driver, topology, ChartDirs(bench, tmp_path / "chaos"), interval=0.2)


async def test_page_and_static_files_are_served_without_anything_remote(
    aiohttp_client, tmp_path: Path
) -> None:
    client: TestClient = await aiohttp_client(create_app(config(tmp_path)))
    page = await (await client.get("/")).text()
    assert "/static/dashboard.js" in page and "http" not in page.replace("http-equiv", "")
    for name in ("dashboard.js", "dashboard.css"):
        resp = await client.get(f"/static/{name}")
        assert resp.status == 200
        assert "//cdn" not in await resp.text()


async def test_picture_is_the_planned_stack_with_local_mode_segments(
    aiohttp_client, tmp_path: Path
) -> None:
    client: TestClient = await aiohttp_client(create_app(config(tmp_path)))
    body = await (await client.get("/picture")).json()
    assert body["mode"] == "local"
    assert set(body["layout"]["boxes"]) >= {"gateway-1", "postgres-1", "world"}
    assert "local mode: no segment" in body["svg"]


async def test_stream_reports_the_missing_stack(aiohttp_client, tmp_path: Path) -> None:
    client: TestClient = await aiohttp_client(create_app(config(tmp_path)))
    async with client.get("/events") as resp:
        assert resp.headers["Content-Type"] == "text/event-stream"
        event: dict[str, str] = {}
        async for raw in resp.content:
            line = raw.decode().rstrip("\n")
            if not line and "data" in event:
                break
            if ":" in line and not line.startswith(":"):
                key, _, value = line.partition(": ")
                event[key] = value
    assert event["event"] == "snapshot" and event["id"] == "1"
    snapshot = json.loads(event["data"])
    assert "no local stack is running" in snapshot["error"]
    assert snapshot["firewall"] is None


async def test_panels_show_the_latest_bench_charts_and_no_audit(
    aiohttp_client, tmp_path: Path
) -> None:
    client: TestClient = await aiohttp_client(create_app(config(tmp_path)))
    body = await (await client.get("/api/panels")).json()
    assert body["audit"] == {"available": False, "text": "no local stack is running"}
    assert body["charts"]["bench"]["run"] == "20260102-000000"
    assert body["charts"]["bench"]["charts"] == ["/charts/bench/throughput.png"]
    assert body["charts"]["chaos"]["charts"] == []
    chart = await client.get("/charts/bench/throughput.png")
    assert await chart.read() == PNG + b"20260102-000000"
    assert (await client.get("/charts/bench/..%2Fstate")).status == 404
    isolation = await (await client.post("/api/isolation")).json()
    assert isolation == {"available": False, "text": "local mode has no network isolation to check"}
