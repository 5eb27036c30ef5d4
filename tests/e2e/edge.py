"""Checks of issue 9's edge and registry points that every mode's e2e test runs.

`FORGE` is a script run where a forger would sit (on the host in local mode,
inside an instance's namespace in netns mode): it tries registry writes and prints
each answer's status, so the test sees what the real registry said to that source.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tests.support.stack import request

FORGE = r"""
import json, sys, urllib.error, urllib.request
registry, token_file, attempts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
token = open(token_file).read().strip()
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
statuses = []
for method, path, body, with_token in attempts:
    headers = {"Content-Type": "application/json"}
    if with_token:
        headers["Authorization"] = "Bearer " + token
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(registry + path, data=data, method=method, headers=headers)
    try:
        with opener.open(req, timeout=5) as resp:
            statuses.append(resp.status)
    except urllib.error.HTTPError as exc:
        statuses.append(exc.code)
print(json.dumps(statuses))
"""


def forge_argv(registry: str, token_file: Path, attempts: list[tuple]) -> list[str]:
    """argv that runs FORGE with the interpreter of this test run."""
    return [sys.executable, "-c", FORGE, registry, str(token_file), json.dumps(attempts)]


def raw_get(url: str) -> tuple[int, dict[str, str], bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def assert_admin_only_on_the_admin_listener(public: str, admin: str) -> None:
    for path in ("/metrics", "/ready", "/registry"):
        status, headers, body = raw_get(public + path)
        assert status == 404 and b"shopnet_" not in body, (public, path, status)
    status, headers, body = raw_get(admin + "/metrics")
    assert status == 200 and b"shopnet_gateway_healthy_instances" in body
    assert headers.get("Server") == "shopnet"
    assert request(admin + "/ready").body["status"] in {"ready", "degraded"}


def assert_the_gateway_answers_oversized_heads_itself(public: str) -> None:
    """An 8 KB X-Forwarded-For gets the gateway's JSON 431, not an upstream's text 400.
    (That a client's X-Forwarded-For never reaches an upstream is shown against real
    processes in tests/gateway/test_edge.py, where the upstream records what it got.)"""
    resp = request(
        public + "/api/products/1", headers={"X-Forwarded-For": "203.0.113.9, " + "9" * 9000}
    )
    assert resp.status == 431 and resp.body["error"]["code"] == "header_fields_too_large"
    assert "X-Served-By" not in resp.headers
    resp = request(public + "/api/products/1", headers={"X-Forwarded-For": "203.0.113.9"})
    assert resp.status == 200 and resp.headers.get("Server") == "shopnet"


def assert_token_file_is_private(token_file: Path, pids: list[int]) -> None:
    """0600, and the token itself in no instance's argv or environment."""
    assert token_file.stat().st_mode & 0o777 == 0o600
    token = token_file.read_text().strip().encode()
    for pid in pids:
        for what in ("cmdline", "environ"):
            with contextlib.suppress(PermissionError):
                assert token not in Path(f"/proc/{pid}/{what}").read_bytes(), (pid, what)


def assert_reservations_need_the_token(product: str, token_file: Path, pids: list[int]) -> None:
    """The product service's internal API (stock reservations) refuses a caller without the
    stack's internal token, or with a wrong one; the token file is private like the others.
    (That orders, which reserve through it, still succeed is each e2e test's order test.)"""
    assert_token_file_is_private(token_file, pids)
    body = {"items": [{"product_id": 1, "quantity": 1}]}
    url = f"{product}/internal/reservations/e2e-forged-1"
    for headers in ({}, {"Authorization": "Bearer " + "x" * 43}):
        reply = request(url, method="PUT", body=body, headers=headers)
        assert reply.status == 401, (headers, reply.status, reply.body)
    assert request(url, method="DELETE").status == 401


def assert_who_may_do_what(gateway: str, bearer_of: Callable[[str | None], dict[str, str]]) -> None:
    """Through a running stack's public port: catalog reads public, changes an admin's;
    orders their customer's; anonymous reads limited per address (429 JSON, Retry-After),
    admins not. `bearer_of(None)` is an admin's Authorization field, `bearer_of(name)` a
    customer's. Leaves the address's bucket full again for the tests after it."""
    admin, alice, bob = bearer_of(None), bearer_of("e2e-alice"), bearer_of("e2e-bob")
    assert request(f"{gateway}/api/products/5").status == 200
    price = {"price_cents": 1}
    assert request(f"{gateway}/api/products/5", method="PATCH", body=price).status == 401
    assert (
        request(f"{gateway}/api/products/5", method="PATCH", body=price, headers=alice).status
        == 403
    )
    assert request(f"{gateway}/api/products/5", method="DELETE", headers=bob).status == 403
    order = {"customer_id": "e2e-alice", "items": [{"product_id": 5, "quantity": 1}]}
    placed = request(f"{gateway}/api/orders", method="POST", body=order, headers=alice)
    assert placed.status == 201, placed.body
    mine = f"{gateway}/api/orders/{placed.body['id']}"
    assert request(f"{gateway}/api/orders", method="POST", body=order).status == 401
    assert request(f"{gateway}/api/orders", method="POST", body=order, headers=bob).status == 403
    assert request(mine, headers=bob).status == 403
    assert request(f"{gateway}/api/orders?customer_id=e2e-alice", headers=bob).status == 403
    assert request(mine + "/cancel", method="POST", headers=bob).status == 403
    assert request(mine, headers=admin).status == 200
    cancelled = request(mine + "/cancel", method="POST", headers=alice)
    assert cancelled.status == 200 and cancelled.body["status"] == "cancelled"
    # 150 quick reads: more than the default burst (100) at 50/s, so some are refused.
    statuses = [request(f"{gateway}/api/products/6") for _ in range(150)]
    limited = [r for r in statuses if r.status == 429]
    assert limited and {r.status for r in statuses} <= {200, 429}
    assert limited[0].body["error"]["code"] == "rate_limited"
    assert int(limited[0].headers["Retry-After"]) >= 1
    assert {request(f"{gateway}/api/products/6", headers=admin).status for _ in range(20)} == {200}
    time.sleep(2.5)  # the anonymous bucket refills (burst / rate = 2 s)
