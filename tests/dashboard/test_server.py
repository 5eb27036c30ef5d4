"""The dashboard app over HTTP, on a driver whose stack is not running (no root, no ports).

Every request carries the run's token (the `client` fixture's header), but where a test
shows what happens without it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from shopnet.dashboard.panels import ChartDirs
from shopnet.dashboard.server import DashboardConfig, create_app
from shopnet.runtime.base import make_driver
from shopnet.runtime.progress import Progress
from shopnet.topology import default_topology
from tests.support.waiting import until

PNG = b"\x89PNG\r\n\x1a\n"
TOKEN = "per-run-token-of-this-test"
WITH_TOKEN = {"X-Dashboard-Token": TOKEN}


def config(tmp_path: Path) -> DashboardConfig:
    topology = default_topology()
    driver = make_driver(
        "local", topology=topology, root=tmp_path / "state", progress=Progress(quiet=True)
    )
    bench = tmp_path / "bench-results"
    for run in ("20260101-000000", "20260102-000000"):
        (bench / run).mkdir(parents=True)
        (bench / run / "throughput.png").write_bytes(PNG + run.encode())
    charts = ChartDirs(bench, tmp_path / "chaos")
    return DashboardConfig(driver, topology, charts, interval=0.2, token=TOKEN)


@pytest.fixture
async def client(aiohttp_client, tmp_path: Path) -> TestClient:
    """The dashboard, asked with the token: what the page does."""
    return await aiohttp_client(create_app(config(tmp_path)), headers=WITH_TOKEN)


async def test_page_and_static_files_are_served_without_anything_remote(
    client: TestClient,
) -> None:
    page = await (await client.get("/")).text()
    assert "/static/dashboard.js" in page and "http" not in page.replace("http-equiv", "")
    for name in ("dashboard.js", "dashboard.css"):
        resp = await client.get(f"/static/{name}")
        assert resp.status == 200
        assert "//cdn" not in await resp.text()


async def test_picture_is_the_planned_stack_with_local_mode_segments(
    client: TestClient,
) -> None:
    body = await (await client.get("/picture")).json()
    assert body["mode"] == "local"
    assert set(body["layout"]["boxes"]) >= {"gateway-1", "postgres-1", "world"}
    assert "local mode: no segment" in body["svg"]


async def test_stream_reports_the_missing_stack(aiohttp_client, tmp_path: Path) -> None:
    # As the page's EventSource asks (no header: the token in the query).
    client: TestClient = await aiohttp_client(create_app(config(tmp_path)))
    async with client.get("/events", params={"token": TOKEN}) as resp:
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
    client: TestClient,
) -> None:
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


async def test_every_answer_carries_a_content_security_policy(client: TestClient) -> None:
    for path in ("/", "/static/dashboard.js", "/api/snapshot"):
        resp = await client.get(path)
        assert resp.status == 200, path
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp
        assert resp.headers["Referrer-Policy"] == "no-referrer"
    script = await (await client.get("/static/dashboard.js")).text()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script


async def test_without_the_token_nothing_but_the_static_files_answers(
    aiohttp_client, tmp_path: Path
) -> None:
    bare: TestClient = await aiohttp_client(create_app(config(tmp_path)))
    for path in ("/", "/picture", "/events", "/api/snapshot", "/api/panels"):
        assert (await bare.get(path)).status == 403, path
        assert (await bare.get(path, params={"token": "guessed"})).status == 403, path
    assert (await bare.post("/api/isolation")).status == 403
    assert (await bare.get("/charts/bench/throughput.png")).status == 403
    assert (await bare.get("/static/dashboard.js")).status == 200  # no data in it
    assert (await bare.get("/", params={"token": TOKEN})).status == 200  # the printed URL


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "127.0.0.2", "[::2]"])
async def test_a_foreign_host_is_refused_even_with_the_token(client: TestClient, host: str) -> None:
    """A DNS-rebinding page reaches 127.0.0.1 under its own name: refused."""
    for path in ("/api/snapshot", "/static/dashboard.js"):
        resp = await client.get(path, headers={"Host": host})
        assert resp.status == 421, (host, path)
    assert (await client.get("/api/snapshot", headers={"Host": "localhost:1"})).status == 200


async def test_a_post_from_a_foreign_origin_is_refused(client: TestClient) -> None:
    port = client.server.port
    for origin in ("http://evil.example", "null", f"https://127.0.0.1:{port}"):
        resp = await client.post("/api/isolation", headers={"Origin": origin})
        assert resp.status == 403, origin
    resp = await client.post("/api/isolation", headers={"Origin": f"http://127.0.0.1:{port}"})
    assert resp.status == 200


async def test_one_probe_run_at_a_time(client: TestClient, monkeypatch) -> None:
    import threading

    from shopnet.dashboard import panels

    release = threading.Event()
    runs: list[int] = []

    def slow_isolation(driver: object) -> dict[str, object]:
        runs.append(1)
        release.wait(5)
        return {"available": True, "text": "probed", "ok": True}

    monkeypatch.setattr(panels, "isolation", slow_isolation)
    first = asyncio.create_task(client.post("/api/isolation"))
    await until(lambda: runs == [1])
    second = await client.post("/api/isolation")
    assert second.status == 409 and (await second.json())["error"]["code"] == "busy"
    release.set()
    assert (await first).status == 200 and runs == [1]
