"""`shopnet k8s`: what the rendered manifests say — least privilege, probes, replicas,
resources, images — and that the database password lives in the 0600 Secret file only."""

from __future__ import annotations

import dataclasses
import re
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
from shopnet_k8s.secrets import SECRET_FILE, kept_password
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
                "path": "/ready",
                "port": service.port,
            }
            assert container["livenessProbe"]["httpGet"] == {
                "path": "/health",
                "port": service.port,
            }
            assert container["startupProbe"]["httpGet"] == {"path": "/health", "port": service.port}
        else:
            assert container["readinessProbe"]["exec"]["command"][0] in {"pg_isready", "redis-cli"}
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


def test_wiring_uses_service_names_and_the_secret(documents: list[dict[str, Any]]) -> None:
    env = {e["name"]: e for e in pod_specs(documents)["order"]["containers"][0]["env"]}
    assert env["SERVICE_REGISTRY"]["value"] == "http://registry:8500"
    names = list(env)
    assert names.index("SHOPNET_DB_PASSWORD") < names.index("DATABASE_URL")  # $(…) needs it first
    assert env["SHOPNET_DB_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "shopnet-db",
        "key": "password",
    }
    assert env["DATABASE_URL"]["value"] == (
        "postgresql://shopnet:$(SHOPNET_DB_PASSWORD)@postgres:5432/shopnet"
    )
    postgres_env = {
        e["name"]: e["value"] for e in pod_specs(documents)["postgres"]["containers"][0]["env"]
    }
    assert postgres_env["POSTGRES_PASSWORD_FILE"].startswith(workloads.SECRET_DIR)
    assert "POSTGRES_PASSWORD" not in postgres_env


def test_the_password_is_only_in_the_private_secret_file(rendered: Path) -> None:
    secret_path = rendered / SECRET_FILE
    assert stat.S_IMODE(secret_path.stat().st_mode) == 0o600
    password = kept_password(secret_path)
    assert password and re.fullmatch(r"[0-9a-f]{48}", password)
    for path in rendered.glob("*.yaml"):
        if path != secret_path:
            assert password not in path.read_text(), path
    # No argv anywhere (args, probes, hooks) carries it, nor any environment value.
    for doc in load_documents(rendered):
        if doc["kind"] != "Secret":
            assert not any(password in text for text in strings(doc))


def test_rendering_again_keeps_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """PostgreSQL takes the password once; a new one in the same directory would lock it out."""
    assert main(["k8s", "-o", str(tmp_path / "a")]) == 0
    assert main(["k8s", "-o", str(tmp_path / "b")]) == 0
    first = kept_password(tmp_path / "a" / SECRET_FILE)
    assert first is not None
    assert first != kept_password(tmp_path / "b" / SECRET_FILE)  # generated, not fixed
    (tmp_path / "a" / SECRET_FILE).chmod(0o644)
    assert main(["k8s", "--scale", "product=2", "-o", str(tmp_path / "a")]) == 0
    assert kept_password(tmp_path / "a" / SECRET_FILE) == first
    assert stat.S_IMODE((tmp_path / "a" / SECRET_FILE).stat().st_mode) == 0o600
    out = capsys.readouterr().out
    assert first not in out and str(tmp_path / "a" / SECRET_FILE) in out


def test_stdout_carries_no_secret(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["k8s", "--scale", "product=2", "--namespace", "demo"]) == 0
    captured = capsys.readouterr()
    documents = [doc for doc in yaml.safe_load_all(captured.out) if doc]
    assert "Secret" not in {doc["kind"] for doc in documents}
    assert of_kind(documents, "Deployment")["product"]["spec"]["replicas"] == 2
    assert "kubectl -n demo create secret generic shopnet-db --from-file=" in captured.err


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
