"""`shopnet k8s`: what the rendered manifests say — least privilege, probes, replicas,
resources, images — and that the database password lives in the 0600 Secret file only."""

from __future__ import annotations

import base64
import dataclasses
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import shopnet_k8s
from shopnet.cli import main
from shopnet.errors import ConfigError
from shopnet.topology import default_topology
from shopnet.topology.model import Kind
from shopnet_docker.names import OFFLINE
from shopnet_k8s import workloads
from shopnet_k8s.secrets import SECRET_FILE
from tests.k8s.conftest import NAMESPACE, SCALE, load_documents

REPO = Path(__file__).parents[2]
TOPOLOGY = default_topology()


def of_kind(documents: list[dict[str, Any]], *kinds: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] in kinds}


def pod_specs(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    workloads_ = of_kind(documents, "Deployment", "StatefulSet")
    return {name: doc["spec"]["template"]["spec"] for name, doc in workloads_.items()}


def strings(value: Any) -> Iterator[str]:
    """Every string in a document, keys included."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value


def test_one_workload_and_service_per_topology_service(documents: list[dict[str, Any]]) -> None:
    deployments = of_kind(documents, "Deployment")
    statefulsets = of_kind(documents, "StatefulSet")
    services = of_kind(documents, "Service")
    apps = {s.name for s in TOPOLOGY.services if s.kind is Kind.APP}
    assert set(deployments) == apps
    assert set(statefulsets) == {"postgres", "redis"}
    assert set(services) == {s.name for s in TOPOLOGY.services}
    for service in TOPOLOGY.services:
        spec = services[service.name]["spec"]
        assert spec["selector"] == {"app.kubernetes.io/name": service.name}
        assert [(p["port"], p["targetPort"]) for p in spec["ports"]] == [(service.port,) * 2]
    for doc in documents:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == NAMESPACE


def test_replicas_follow_scale(documents: list[dict[str, Any]]) -> None:
    for name, doc in of_kind(documents, "Deployment", "StatefulSet").items():
        assert doc["spec"]["replicas"] == SCALE.get(name, 1), name
    deployments = of_kind(documents, "Deployment")
    assert deployments["product"]["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert deployments["registry"]["spec"]["strategy"] == {"type": "Recreate"}


def test_postgres_keeps_its_data_in_a_claim(documents: list[dict[str, Any]]) -> None:
    postgres = of_kind(documents, "StatefulSet")["postgres"]
    (claim,) = postgres["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    mounts = postgres["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert {"name": claim["metadata"]["name"], "mountPath": "/var/lib/postgresql/data"} in mounts
    assert "volumeClaimTemplates" not in of_kind(documents, "StatefulSet")["redis"]["spec"]


def test_every_pod_is_least_privileged(documents: list[dict[str, Any]]) -> None:
    """Pod Security "restricted", and a read-only root with emptyDirs where a program writes."""
    namespace = of_kind(documents, "Namespace")[NAMESPACE]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for name, pod in pod_specs(documents).items():
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True, name
        assert security["runAsUser"] != 0 and security["runAsGroup"] != 0, name
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        (container,) = pod["containers"]
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
        }, name
        empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        mounted = {m["mountPath"] for m in container["volumeMounts"] if m["name"] in empty_dirs}
        assert "/tmp" in mounted, name
    assert "/var/run/postgresql" in {
        m["mountPath"] for m in pod_specs(documents)["postgres"]["containers"][0]["volumeMounts"]
    }


def test_users_are_the_images_users() -> None:
    """The uid the Dockerfile creates; the datastore images' are checked in test_images.py."""
    dockerfile = (REPO / "containers" / "Dockerfile").read_text()
    assert f"--uid {workloads.APP_USER.uid} " in dockerfile
    assert f"USER {workloads.APP_USER.uid}:{workloads.APP_USER.gid}" in dockerfile


def test_probes_use_health_and_ready(documents: list[dict[str, Any]]) -> None:
    pods = pod_specs(documents)
    for service in TOPOLOGY.services:
        (container,) = pods[service.name]["containers"]
        if service.kind is Kind.APP:
            assert container["readinessProbe"]["httpGet"] == {
                "path": "/ready",  # on the admin listener where there is one (the gateway's)
                "port": service.admin_port or service.port,
            }
            assert container["livenessProbe"]["httpGet"] == {
                "path": "/health",
                "port": service.port,
            }
            assert container["startupProbe"]["httpGet"] == {"path": "/health", "port": service.port}
        else:
            command = container["readinessProbe"]["exec"]["command"]
            assert command[0] == "redis-cli" or command[-1].startswith("pg_isready ")
            assert container["livenessProbe"]["exec"] == container["readinessProbe"]["exec"]


def test_resources_are_the_topology_limits(documents: list[dict[str, Any]]) -> None:
    pods = pod_specs(documents)
    for service in TOPOLOGY.services:
        resources = pods[service.name]["containers"][0]["resources"]
        assert resources["limits"] == {
            "cpu": f"{round(service.cpus * 1000)}m",
            "memory": f"{service.memory_mb}Mi",
        }
        assert resources["requests"]["memory"] == resources["limits"]["memory"]


def test_images_are_the_ones_docker_mode_builds(documents: list[dict[str, Any]]) -> None:
    pods = pod_specs(documents)
    for name, pod in pods.items():
        image = pod["containers"][0]["image"]
        expected = {"postgres": OFFLINE.postgres, "redis": OFFLINE.redis}.get(name, OFFLINE.service)
        assert image == expected, name
    assert pods["product"]["containers"][0]["args"] == ["serve", "product"]


def secret_values(rendered: Path) -> dict[str, dict[str, str]]:
    """Secret name → file key → decoded value, from the private Secret file."""
    documents = yaml.safe_load_all((rendered / SECRET_FILE).read_text())
    return {
        doc["metadata"]["name"]: {k: base64.b64decode(v).decode() for k, v in doc["data"].items()}
        for doc in documents
        if doc
    }


def test_each_service_logs_in_as_itself_with_files_from_its_own_secret(
    documents: list[dict[str, Any]],
) -> None:
    pods = pod_specs(documents)
    env = {e["name"]: e.get("value") for e in pods["order"]["containers"][0]["env"]}
    assert env["SERVICE_REGISTRY"] == "http://registry:8500"
    # Its own role, its password a mounted file: no owner's DSN, no password in a variable.
    assert env["DATABASE_URL"] == "postgresql://order_app@postgres:5432/shopnet"
    assert env["DATABASE_PASSWORD_FILE"] == "/run/secrets/order_postgres"
    assert env["SHOPNET_REGISTRY_TOKEN_FILE"] == "/run/secrets/order_registry_token"
    assert env["SHOPNET_INTERNAL_TOKEN_FILE"] == "/run/secrets/order_internal_token"
    product = {e["name"]: e.get("value") for e in pods["product"]["containers"][0]["env"]}
    assert product["REDIS_URL"] == "redis://product@redis:6379/0"
    assert product["SHOPNET_INTERNAL_CALLERS_FILE"] == "/run/secrets/product_internal_callers"
    gateway = {e["name"]: e.get("value") for e in pods["gateway"]["containers"][0]["env"]}
    assert gateway["SHOPNET_GATEWAY_TOKEN_KEY_FILE"] == "/run/secrets/gateway_token_key"
    assert "DATABASE_URL" not in gateway
    registry = {e["name"]: e.get("value") for e in pods["registry"]["containers"][0]["env"]}
    assert registry["SHOPNET_REGISTRY_TOKENS_FILE"] == "/run/secrets/registry_registry_tokens"
    for name, pod in pods.items():
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["secrets"]["secret"]["secretName"] == f"shopnet-{name}", name
        assert volumes["secrets"]["secret"]["defaultMode"] == 0o440
        assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]
    redis = pods["redis"]["containers"][0]["args"]
    assert redis[redis.index("--aclfile") + 1] == "/run/secrets/redis_users_acl"
    postgres_env = {e["name"]: e["value"] for e in pods["postgres"]["containers"][0]["env"]}
    assert postgres_env["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert "POSTGRES_PASSWORD" not in postgres_env
    probe = pods["postgres"]["containers"][0]["readinessProbe"]["exec"]["command"][-1]
    assert "-f /run/secrets/postgres_roles_sql" in probe  # the roles, before the first ready


def test_secrets_are_only_in_the_private_secret_file(rendered: Path) -> None:
    secret_path = rendered / SECRET_FILE
    assert stat.S_IMODE(secret_path.stat().st_mode) == 0o600
    values = secret_values(rendered)
    assert set(values) == {
        f"shopnet-{s}" for s in ("postgres", "redis", "registry", "product", "order", "gateway")
    }
    assert (
        values["shopnet-product"]["product_postgres"] != values["shopnet-order"]["order_postgres"]
    )
    assert "user default off" in values["shopnet-redis"]["redis_users_acl"]
    assert "CREATE ROLE order_app" in values["shopnet-postgres"]["postgres_roles_sql"]
    order_token = values["shopnet-order"]["order_internal_token"].strip()
    assert order_token not in values["shopnet-product"]["product_internal_callers"]
    secrets = [
        v.strip()
        for files in values.values()
        for k, v in files.items()
        if k not in {"postgres_roles_sql", "redis_users_acl", "registry_registry_tokens",
                     "product_internal_callers"}
    ]  # fmt: skip
    assert all(len(s) >= 24 for s in secrets)
    for path in rendered.glob("*.yaml"):
        if path != secret_path:
            text = path.read_text()
            assert not any(s in text for s in secrets), path
    # No argv anywhere (args, probes, hooks) carries one, nor any environment value.
    for doc in load_documents(rendered):
        if doc["kind"] != "Secret":
            assert not any(s in text for text in strings(doc) for s in secrets)


def test_rendering_again_keeps_every_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """PostgreSQL takes its password once; new ones in the same directory would lock it out."""
    assert main(["k8s", "-o", str(tmp_path / "a")]) == 0
    assert main(["k8s", "-o", str(tmp_path / "b")]) == 0

    def kept(directory: Path) -> dict[str, str]:  # SCRAM verifiers are salted anew each time
        values = secret_values(directory)
        return {k: v for files in values.values() for k, v in files.items() if "roles" not in k}

    first = kept(tmp_path / "a")
    assert all(first[k] != v for k, v in kept(tmp_path / "b").items())  # generated, not fixed
    (tmp_path / "a" / SECRET_FILE).chmod(0o644)
    assert main(["k8s", "--scale", "product=2", "-o", str(tmp_path / "a")]) == 0
    assert kept(tmp_path / "a") == first
    assert stat.S_IMODE((tmp_path / "a" / SECRET_FILE).stat().st_mode) == 0o600
    out = capsys.readouterr().out
    password = first["postgres_password"].strip()
    assert password not in out and str(tmp_path / "a" / SECRET_FILE) in out


def test_stdout_carries_no_secret(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["k8s", "--scale", "product=2", "--namespace", "demo"]) == 0
    captured = capsys.readouterr()
    documents = [doc for doc in yaml.safe_load_all(captured.out) if doc]
    assert "Secret" not in {doc["kind"] for doc in documents}
    assert of_kind(documents, "Deployment")["product"]["spec"]["replicas"] == 2
    assert "Secrets (passwords, tokens, keys) are not printed" in captured.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--scale", "product=99"], "product takes 1 to 10 instances"),
        (["--scale", "registry=2"], "registry runs exactly one instance"),
        (["--namespace", "Shop_Net"], "namespace 'Shop_Net' is not a Kubernetes name"),
    ],
)
def test_bad_input_is_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["k8s", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("shopnet: error: ") and message in captured.err
    assert captured.err.count("\n") == 1


def test_an_unwritable_output_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["k8s", "-o", str(blocker / "dir")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("shopnet: error: cannot write manifests") and err.count("\n") == 1


def test_a_service_name_kubernetes_refuses_is_one_error() -> None:
    """Topology names are identifiers; Kubernetes names are DNS labels (no '_', no capitals)."""
    renamed = dataclasses.replace(TOPOLOGY.service("registry"), name="Registry_2")
    topology = dataclasses.replace(
        TOPOLOGY,
        services=tuple(renamed if s.name == "registry" else s for s in TOPOLOGY.services),
        flows=tuple(
            dataclasses.replace(f, target=renamed.name) if f.target == "registry" else f
            for f in TOPOLOGY.flows
        ),
    )
    with pytest.raises(ConfigError, match="service name 'Registry_2' is not a Kubernetes name"):
        shopnet_k8s.render(topology, namespace=NAMESPACE, scale={})
