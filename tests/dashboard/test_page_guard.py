"""The page under its own guard, in Chromium: the printed URL opens it with its Content
Security Policy on (the picture, its style sheet and the live stream work; no violation
is reported), and the same page without the token shows nothing. No stack is needed:
the dashboard of a local stack that is not running."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.support import CHROMIUM, CHROMIUM_ARGS, dashboard, free_port

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium")


def test_the_printed_url_opens_the_page_and_a_bare_one_does_not(tmp_path: Path) -> None:
    port = free_port()
    with dashboard(tmp_path, "local", port) as url, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(url)
            page.wait_for_selector("#node-gateway-1", timeout=10_000)  # the picture
            page.wait_for_selector("#live.on", timeout=10_000)  # the event stream
            page.wait_for_function("Number(document.body.dataset.seq) > 0", timeout=10_000)
            fill = page.eval_on_selector("#node-gateway-1 .dot", _FILL)
            assert fill not in ("", "rgb(0, 0, 0)"), fill  # the SVG's own style sheet applied
            assert not [e for e in errors if "Content Security Policy" in e], errors

            bare = browser.new_page()
            answer = bare.goto(f"http://127.0.0.1:{port}/")
            assert answer is not None and answer.status == 403
            bare.goto(f"http://localhost:{port}/static/dashboard.js")  # the script is public
        finally:
            browser.close()


_FILL: Any = "(el) => getComputedStyle(el).fill"
