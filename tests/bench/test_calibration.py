"""The calibration path's handler, and CPU accounting of processes beside the stack."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import pytest

from shopnet.bench import cpu
from shopnet.bench.calibration import create_app, spec
from tests.support.servers import free_port


async def test_the_trivial_handler_answers_a_product_sized_json(aiohttp_client) -> None:
    client = await aiohttp_client(create_app())
    resp = await client.get("/products/1")
    assert resp.status == 200 and resp.content_type == "application/json"
    body = orjson.loads(await resp.read())
    assert body["id"] == 1 and {"name", "price_cents", "stock"} <= set(body)
    assert (await client.get("/nothing")).status == 404


def test_it_runs_as_a_module_on_the_given_address(tmp_path: Path) -> None:
    run = spec(instance="calibration", host="10.0.0.5", port=3081, log_path=tmp_path / "log")
    assert run.argv[1:5] == ("-m", "shopnet.bench.calibration", "10.0.0.5", "3081")
    if os.geteuid() == 0:
        assert run.argv[5:] == ("nobody",)  # it drops to it once it listens


def test_as_root_it_serves_as_an_unprivileged_user(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to drop privileges")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "shopnet.bench.calibration", "127.0.0.1", str(port), "nobody"]
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/products/1") as resp:
                    assert orjson.loads(resp.read())["id"] == 1
                break
            except OSError:
                assert time.monotonic() < deadline, "the calibration handler never answered"
                time.sleep(0.1)
        status = Path(f"/proc/{proc.pid}/status").read_text()
        uid = next(line for line in status.splitlines() if line.startswith("Uid:"))
        assert uid.split()[1:] == [str(pwd.getpwnam("nobody").pw_uid)] * 4
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_helpers_are_counted_as_components_of_their_own() -> None:
    before = cpu.snapshot([], {"calibration": os.getpid()})
    sum(i * i for i in range(300_000))  # burn some CPU in the "helper" (this process)
    after = cpu.snapshot([], {"calibration": os.getpid()})
    usage = cpu.per_request(before, after, 1000)
    assert usage["calibration"] >= 0 and "calibration" in after.services
    assert after.services["calibration"] >= before.services["calibration"]
