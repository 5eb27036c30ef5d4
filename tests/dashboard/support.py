"""What the dashboard's browser test drives: the system's Chromium, a dashboard process,
and a little bounded load through the gateway."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# Playwright's own browser download cannot work offline: drive Debian's Chromium.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def dashboard(root: Path, mode: str, port: int) -> Iterator[str]:
    """`shopnet dashboard` as a user runs it, until the block ends (then Ctrl-C): the URL
    it printed (with the run's token, which every request but the static files needs)."""
    log_path = root / f"dashboard-{port}.log"
    log = log_path.open("wb")
    argv = [sys.executable, "-m", "shopnet", "--state-dir", str(root), "dashboard"]
    proc = subprocess.Popen(
        [*argv, "--mode", mode, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            printed = re.search(r"http://127\.0\.0\.1:\d+/\?token=[\w-]+", log_path.read_text())
            try:
                if printed is not None:
                    url = printed.group(0)
                    token = url.partition("?token=")[2]
                    ask = urllib.request.Request(
                        f"http://127.0.0.1:{port}/api/snapshot",
                        headers={"X-Dashboard-Token": token},
                    )
                    with _OPENER.open(ask, timeout=2) as r:
                        if b'"seq"' in r.read():
                            break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(log_path.read_text())
            time.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextmanager
def light_load(
    base: str, *, headers: dict[str, str], rate: float = 20.0, limit: float = 120.0
) -> Iterator[None]:
    """About `rate` requests a second through the gateway, for at most `limit` seconds, each
    with `headers` (an admin's token: the gateway rate-limits anonymous callers)."""
    stop = threading.Event()

    def run() -> None:
        deadline = time.monotonic() + limit
        n = 0
        while not stop.is_set() and time.monotonic() < deadline:
            n += 1
            path = f"/api/products/{n % 50 + 1}" if n % 4 else "/api/products?page_size=3"
            try:
                if n % 10 == 0:
                    req = urllib.request.Request(
                        f"{base}/api/orders",
                        data=b'{"customer_id":"c-dash","items":[{"product_id":1,"quantity":1}]}',
                        headers={"Content-Type": "application/json", **headers},
                        method="POST",
                    )
                    _OPENER.open(req, timeout=3).read()
                else:
                    _OPENER.open(
                        urllib.request.Request(base + path, headers=headers), timeout=3
                    ).read()
            except OSError:
                pass  # an instance killed on purpose: the gateway may answer 502 meanwhile
            stop.wait(1 / rate)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def save_artifact(path: Path) -> Path:
    """Copy a screenshot next to the repository (test-artifacts/, ignored by git)."""
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / path.name
    shutil.copyfile(path, target)
    return target
