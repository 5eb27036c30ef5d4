"""Fixtures of the Kubernetes tests: the default topology rendered once per module.

Nothing here needs a cluster, root, Docker or the stack lock: rendering, schema
validation and policy analysis all run on files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import shopnet_k8s
from shopnet.topology import default_topology

NAMESPACE = "shop-test"
"""Not the default, so a manifest that ignored --namespace would show."""
SCALE = {"product": 3}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory as `shopnet k8s --namespace shop-test --scale product=3 -o DIR` writes it."""
    directory = tmp_path_factory.mktemp("k8s")
    topology = default_topology()
    manifests = shopnet_k8s.render(topology, namespace=NAMESPACE, scale=SCALE)
    shopnet_k8s.write(topology, manifests, directory)
    return directory


def load_documents(directory: Path) -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(directory.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


@pytest.fixture(scope="module")
def documents(rendered: Path) -> list[dict[str, Any]]:
    return load_documents(rendered)
