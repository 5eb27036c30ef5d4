"""Every rendered manifest is valid against the Kubernetes API schemas (kubernetes-validate,
strict: an unknown field fails too), for an older supported release and the newest bundled."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from kubernetes_validate import utils as kubernetes_validate

VERSIONS = ("1.30.0", kubernetes_validate.latest_version())


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_is_valid(documents: list[dict[str, Any]], version: str) -> None:
    kinds = sorted({doc["kind"] for doc in documents})
    assert kinds == [
        "Deployment", "Namespace", "NetworkPolicy", "Secret", "Service", "StatefulSet",
    ]  # fmt: skip
    for doc in documents:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} against {version}: {exc}")


def test_the_validator_rejects_what_kubernetes_would(documents: list[dict[str, Any]]) -> None:
    """Strict mode is on and nested fields are checked: a misspelt or mistyped field fails."""
    deployment = next(doc for doc in documents if doc["kind"] == "Deployment")
    misspelt = copy.deepcopy(deployment)
    misspelt["spec"]["template"]["spec"]["containers"][0]["securityContex"] = {}
    mistyped = copy.deepcopy(deployment)
    mistyped["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "3000"
    for broken in (misspelt, mistyped):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)
