"""The images built offline: current, cached, shaped as promised, datastores like the official ones."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shopnet.runtime.datastores import find_binary
from shopnet.runtime.progress import Progress
from shopnet_docker import images as image_build
from shopnet_docker import inventory, names, offline
from shopnet_docker.engine import Docker
from shopnet_docker.images import BuildReport
from shopnet_docker.listing import list_images, listing_lines
from tests.docker.helpers import wait_until

pytestmark = pytest.mark.docker

TEST_LABEL = "io.shopnet.stack=snt-images"


def inspect(docker: Docker, what: str) -> dict:
    return docker.json("inspect", what, what=f"inspect {what}")[0]


def service_digest() -> str:
    """Digest of the sources the service image is built from, as they are now."""
    builds = image_build._builds(names.OFFLINE, offline=True)
    return next(b.digest for b in builds if b.tag == names.OFFLINE.service)


def test_images_are_current_after_a_build(images: BuildReport, docker: Docker) -> None:
    assert {i.name for i in images.images} == {
        names.DEBIAN_BASE,
        names.PYTHON_BASE,
        names.OFFLINE.service,
        names.OFFLINE.redis,
        names.OFFLINE.postgres,
    }
    # Build again first: on a shared checkout, services/ may have changed since the session's.
    image_build.build_images(Progress(quiet=True), docker=docker)
    assert image_build.outdated(docker) == []


def test_a_rebuild_without_changes_reuses_every_layer(images: BuildReport, docker: Docker) -> None:
    def ids() -> dict[str, str | None]:
        return {i.name: inventory.image_id(docker, i.name) for i in images.images}

    digest_before = service_digest()
    image_build.build_images(Progress(quiet=True), docker=docker)
    before = ids()
    report = image_build.build_images(Progress(quiet=True), docker=docker)
    after, digest_after = ids(), service_digest()
    for name in (names.DEBIAN_BASE, names.PYTHON_BASE, names.OFFLINE.redis, names.OFFLINE.postgres):
        assert after[name] == before[name], name
    if digest_after == digest_before:  # nobody edited services/ during the two builds
        assert after[names.OFFLINE.service] == before[names.OFFLINE.service]
    # "loaded" when another build (another checkout) re-tagged an image in between.
    assert {i.action for i in report.images} <= {"kept", "loaded"}


@pytest.mark.slow
def test_the_service_image_builds_to_the_same_id_twice(
    images: BuildReport, docker: Docker, tmp_path: Path
) -> None:
    """Two builds of the service image in fresh buildah storages give one image id.

    Both start from the session's python base (the same base layers, so the claim
    checked is: the same inputs give the same image); the service's own steps, venv,
    wheels, code and compileall, run twice from nothing.
    """
    started = time.monotonic()
    builds = [b for b in image_build._builds(names.OFFLINE, offline=True)
              if b.tag == names.OFFLINE.service]  # fmt: skip
    [comparison] = offline.verify(
        Progress(quiet=True), builds, offline.default_build_dir(),
        source_root=image_build.SOURCE_ROOT, reuse=[names.PYTHON_BASE], work=tmp_path / "verify",
    )  # fmt: skip
    assert comparison.identical, "\n".join(comparison.lines())
    assert not (tmp_path / "verify").exists()
    # The very image Docker runs, unless someone edited services/ since the session's build.
    labels = inventory.image_labels(docker, names.OFFLINE.service) or {}
    if labels.get(names.LABEL_SOURCE_DIGEST) == service_digest():
        assert inventory.image_id(docker, names.OFFLINE.service) == f"sha256:{comparison.first_id}"
    assert time.monotonic() - started < 240


def test_every_image_has_its_sbom_in_the_listing(images: BuildReport, docker: Docker) -> None:
    listed = {image.name: image for image in list_images(docker=docker)}
    for name in (names.PYTHON_BASE, names.OFFLINE.service, names.OFFLINE.postgres):
        bom = listed[name].sbom
        assert bom is not None, name
        assert bom.id == listed[name].id
    postgres_bom, service_bom = (
        listed[names.OFFLINE.postgres].sbom,
        listed[names.OFFLINE.service].sbom,
    )
    assert postgres_bom is not None and service_bom is not None
    debian = {p.name: p.version for p in postgres_bom.debian}
    assert debian["postgresql-15"].startswith("15.")
    python = {p.name: p.version for p in service_bom.python}
    lock = (image_build.CONTAINERS / "requirements.lock").read_text()
    assert f"aiohttp=={python['aiohttp']}" in lock
    assert "pip" not in python  # uninstalled from the venv
    lines = listing_lines(list(listed.values()))
    assert any(
        line.startswith(names.OFFLINE.service) and "Python packages" in line for line in lines
    )


def test_service_image_shape(images: BuildReport, docker: Docker) -> None:
    config = inspect(docker, names.OFFLINE.service)["Config"]
    assert config["User"] == "10001:10001"
    assert config["StopSignal"] == "SIGTERM"
    assert config["Entrypoint"] == ["python3", "-m", "shopnet"]
    assert config["Healthcheck"]["Test"] == [
        "CMD", "python3", "-I", "-S", "/opt/shopnet/healthcheck.py"
    ]  # fmt: skip
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == "shopnet services"
    assert labels["org.opencontainers.image.licenses"] == "MIT"
    assert labels["org.opencontainers.image.version"] == names.SERVICE_IMAGE.rsplit(":", 1)[1]
    assert len(labels[names.LABEL_SOURCE_DIGEST]) == 32


def run(docker: Docker, *argv: str) -> subprocess.CompletedProcess[str]:
    return docker.run("run", "--rm", *argv, what="docker run", check=False, timeout=120)


def test_service_image_has_the_locked_dependencies_for_its_python(
    images: BuildReport, docker: Docker
) -> None:
    script = (
        "import sys, aiohttp, asyncpg, msgspec, orjson, prometheus_client, redis, uvloop\n"
        "import async_timeout  # required by redis below Python 3.11.3: Debian's is 3.11.2\n"
        "import shopnet.serve\n"
        "print(sys.version_info[:3] < (3, 11, 3), aiohttp.__version__)\n"
        "try:\n    import pip\nexcept ImportError:\n    print('no pip')\n"
    )
    out = run(docker, "--entrypoint", "python3", names.OFFLINE.service, "-c", script)
    assert out.returncode == 0, out.stderr
    lock = (image_build.CONTAINERS / "requirements.lock").read_text()
    aiohttp_pin = next(line for line in lock.splitlines() if line.startswith("aiohttp=="))
    assert out.stdout.split() == ["True", aiohttp_pin.split("==")[1].split()[0], "no", "pip"]


def test_service_image_rejects_an_unknown_service_in_one_line(
    images: BuildReport, docker: Docker
) -> None:
    out = run(docker, names.OFFLINE.service, "serve", "cart")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "shopnet: error: unknown service 'cart'; services: registry, product, order, gateway"
    ]


@pytest.fixture
def container(docker: Docker) -> Iterator[list[str]]:
    """Names of containers a test starts (labelled); removed afterwards."""
    started: list[str] = []
    yield started
    for name in started:
        docker.run("rm", "-f", "-v", name, what="cleanup", check=False)


def test_postgres_image_initialises_like_the_official_one(
    images: BuildReport, docker: Docker, container: list[str]
) -> None:
    name = f"snt-pg-{uuid.uuid4().hex[:8]}"
    container.append(name)
    docker.run(
        "run", "-d", "--name", name, "--label", TEST_LABEL,
        "-e", "POSTGRES_PASSWORD=pw-1", "-e", "POSTGRES_USER=alice", "-e", "POSTGRES_DB=shop",
        names.OFFLINE.postgres, what="starting postgres",
    )  # fmt: skip

    def ready() -> bool:
        probe = ["exec", name, "pg_isready", "-q", "-h", "127.0.0.1", "-U", "alice"]
        return docker.run(*probe, what="pg_isready", check=False).returncode == 0

    wait_until(ready, timeout=60, what="postgres accepting TCP connections")
    address = inspect(docker, name)["NetworkSettings"]["IPAddress"]
    psql = [find_binary("psql"), "-h", address, "-U", "alice", "-d", "shop", "-tAc"]

    def query(password: str, sql: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"}
        return subprocess.run(
            [*psql, sql], capture_output=True, text=True, env=env, check=False, timeout=30
        )

    ok = query("pw-1", "SELECT current_user || ' ' || current_database()")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "alice shop"
    bad = query("wrong", "SELECT 1")
    assert bad.returncode != 0
    assert "password authentication failed" in bad.stderr
    who = docker.run("exec", name, "sh", "-c", "id -un; cat $PGDATA/PG_VERSION", what="exec")
    assert who.stdout.split() == ["postgres", "15"]
    assert inspect(docker, name)["Config"]["StopSignal"] == "SIGINT"


def test_postgres_image_refuses_to_start_without_a_password(
    images: BuildReport, docker: Docker, container: list[str]
) -> None:
    name = f"snt-pg-{uuid.uuid4().hex[:8]}"
    container.append(name)
    out = docker.run(
        "run", "--name", name, "--label", TEST_LABEL, names.OFFLINE.postgres,
        what="postgres without a password", check=False, timeout=60,
    )  # fmt: skip
    assert out.returncode == 1
    assert "POSTGRES_PASSWORD is not set" in out.stderr


def test_redis_image_is_an_open_cache_run_by_redis(
    images: BuildReport, docker: Docker, container: list[str]
) -> None:
    name = f"snt-redis-{uuid.uuid4().hex[:8]}"
    container.append(name)
    docker.run(
        "run", "-d", "--name", name, "--label", TEST_LABEL, names.OFFLINE.redis, what="redis"
    )  # fmt: skip
    wait_until(
        lambda: (
            docker.run("exec", name, "redis-cli", "ping", what="ping", check=False).stdout.strip()
            == "PONG"
        ),
        timeout=30,
        what="redis answering PING",
    )
    out = docker.run(
        "exec", name, "sh", "-c",
        "id -un; redis-cli config get protected-mode; redis-cli config get save; "
        "redis-cli config get appendonly",
        what="redis config",
    )  # fmt: skip
    assert out.stdout.split("\n")[:7] == [
        "redis", "protected-mode", "no", "save", "", "appendonly", "no"
    ]  # fmt: skip
    config = inspect(docker, name)["Config"]
    assert json.dumps(config["Healthcheck"]["Test"]) == '["CMD", "redis-cli", "ping"]'
