"""A service added by its package and topology lines only: the test-only cart
(tests/support/extra_services) runs in local and netns mode, behind the gateway, with a
Redis user of its own confined to its key prefix.

Whole stacks, so run under the shared lock:
    flock /tmp/shopnet-stack.lock .venv/bin/python -m pytest tests/e2e/test_extra_service.py
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.exceptions import NoPermissionError

import redis
from tests.support.servers import scratch_dir
from tests.support.stack import bearer, request, require_default_resources, shopnet

pytestmark = pytest.mark.slow

TOPOLOGY = Path(__file__).resolve().parents[1] / "support" / "extra_services" / "topology.toml"
GATEWAY = "http://127.0.0.1:8080"
NETNS = pytest.param(
    "netns",
    marks=[
        pytest.mark.root,
        pytest.mark.skipif(os.geteuid() != 0, reason="netns mode needs root"),
    ],
)


@pytest.fixture(scope="module", params=["local", NETNS])
def stack(request: pytest.FixtureRequest) -> Iterator[tuple[str, Path]]:
    mode = request.param
    require_default_resources(mode)
    root = scratch_dir(f"shopnet-e2e-cart-{mode}-")
    common = ("--topology", str(TOPOLOGY), "-q")
    try:
        shopnet(root, *common, "up", "--mode", mode)
        yield mode, root
    finally:
        shopnet(root, *common, "down", "--mode", mode, "--volumes", check=False)


def _redis_as(root: Path, mode: str, user: str) -> redis.Redis:
    state = json.loads((root / mode / "state.json").read_text())
    host, port = next(
        (i["address"], i["port"]) for i in state["instances"] if i["name"] == "redis-1"
    )
    password = (root / mode / "data" / "secrets" / user / "redis").read_text().strip()
    return redis.Redis(host=host, port=port, username=user, password=password, socket_timeout=2)


def test_the_cart_is_served_through_the_gateway_from_its_own_keys(
    stack: tuple[str, Path],
) -> None:
    mode, root = stack
    url = f"{GATEWAY}/api/carts/alice"
    assert request(url).status == 401  # the route is the cart's spec's: every call needs a token
    auth = bearer(root, mode)
    put = request(url, method="PUT", body={"items": [{"sku": "A-1", "qty": 2}]}, headers=auth)
    assert put.status == 200, put.body
    got = request(url, headers=auth)
    assert (got.status, got.body) == (200, {"items": [{"sku": "A-1", "qty": 2}]})
    assert request(f"{GATEWAY}/api/carts/bob", headers=auth).status == 404

    cart = _redis_as(root, mode, "cart")
    product = _redis_as(root, mode, "product")
    try:
        # Its own ACL user reads what the service wrote, under the topology's prefix ...
        assert json.loads(cart.get("shopnet:cart:alice") or b"null") == put.body
        # ... and the server refuses each user the other's keys.
        with pytest.raises(NoPermissionError):
            cart.get("shopnet:product:1")
        with pytest.raises(NoPermissionError):
            product.get("shopnet:cart:alice")
        assert product.get("shopnet:product:no-such-key") is None  # its own prefix: allowed
    finally:
        cart.close()
        product.close()
