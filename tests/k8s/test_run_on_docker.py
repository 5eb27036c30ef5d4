"""The rendered manifests' containers run: every workload started on Docker with exactly
its image, args, env, secret files and securityContext (tests/k8s/kubelet.py), and the
main path and an order work end to end, with the Secrets' credentials only."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import shopnet_k8s
from shopnet.common import identity
from shopnet.topology import default_topology
from shopnet_docker.engine import Docker
from shopnet_docker.images import BuildReport
from tests.docker.helpers import free_subnets
from tests.k8s.conftest import load_documents
from tests.k8s.kubelet import Kubelet

pytestmark = [pytest.mark.slow, pytest.mark.docker]
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def cluster(
    docker: Docker, images: BuildReport, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Kubelet]:
    directory = tmp_path_factory.mktemp("k8s-run")
    topology = default_topology()
    manifests = shopnet_k8s.render(topology, namespace="shop-run", scale={"product": 2})
    shopnet_k8s.write(topology, manifests, directory)
    kubelet = Kubelet(
        docker,
        load_documents(directory),
        free_subnets(1)[0],
        tag=f"snk8s{uuid.uuid4().hex[:6]}",
        workdir=Path(tmp_path_factory.mktemp("k8s-volumes")),
    )
    try:
        kubelet.start_all()
        yield kubelet
    finally:
        kubelet.stop_all()


def call(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    request.add_header("Content-Type", "application/json")
    try:
        with _OPENER.open(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_the_main_path_and_an_order_work_end_to_end(cluster: Kubelet) -> None:
    gateway = f"http://{cluster.pods['gateway-0'].ip}:3000"
    status, product = call("GET", f"{gateway}/api/products/3")
    assert status == 200, product
    # A customer's token, signed with the key the gateway's Secret holds.
    key_hex = cluster.secrets()["shopnet-gateway"]["gateway_token_key"].decode().strip()
    token = identity.issue(bytes.fromhex(key_hex), customer="k8s-alice")
    alice = {"Authorization": f"Bearer {token}"}
    body = {"customer_id": "k8s-alice", "items": [{"product_id": 3, "quantity": 2}]}
    status, order = call("POST", f"{gateway}/api/orders", body, alice)
    assert status == 201, order
    assert order["total_cents"] == 2 * product["price_cents"]
    assert call("GET", f"{gateway}/api/orders/{order['id']}", headers=alice) == (200, order)
    assert call("PATCH", f"{gateway}/api/products/3", {"stock": 1}, alice)[0] == 403
    # Both product pods registered, each from its own pod IP, under its own token.
    registry = f"http://{cluster.pods['registry-0'].ip}:8500"
    _, listed = call("GET", f"{registry}/v1/services/product")
    assert sorted(i["address"] for i in listed["instances"]) == sorted(
        cluster.pods[f"product-{n}"].ip for n in range(2)
    )


def test_each_service_has_only_its_own_credentials(cluster: Kubelet, docker: Docker) -> None:
    """From inside the order pod: its own role cannot read the product schema, the product
    service's registry token is not there, and no secret is in its environment."""
    pod = cluster.pods["order-0"]
    files = docker.lines("exec", pod.container_id, "ls", "/run/secrets", what="listing secrets")
    assert sorted(files) == ["order_internal_token", "order_postgres", "order_registry_token"]
    env = docker.run("exec", pod.container_id, "env", what="env").stdout
    for value in cluster.secrets()["shopnet-order"].values():
        assert value.decode().strip() not in env
    product_token = base64.b64encode(
        cluster.secrets()["shopnet-product"]["product_registry_token"]
    ).decode()
    assert product_token not in env
