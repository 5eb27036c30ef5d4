"""`shopnet audit` in docker mode: measured inside every container of a running stack.

flock /tmp/shopnet-stack.lock .venv/bin/python -m pytest tests/audit/test_docker_stack.py
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shopnet.audit import audit, format_table
from shopnet.dashboard import panels
from shopnet_docker.driver import DockerDriver
from shopnet_docker.engine import Docker
from shopnet_docker.images import BuildReport
from tests.docker.helpers import running_stack

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(
    docker: Docker, images: BuildReport, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DockerDriver]:
    with running_stack(docker, tmp_path_factory.mktemp("docker-audit")) as driver:
        yield driver


def test_every_container_is_unprivileged(stack: DockerDriver) -> None:
    rows = audit(stack)
    assert {r.service for r in rows} == {
        "gateway",
        "registry",
        "product",
        "order",
        "postgres",
        "redis",
    }
    for row in rows:
        facts = row.facts
        assert facts.uid != 0, format_table(rows)
        assert facts.cap_eff == 0 and facts.cap_bnd == 0, format_table(rows)
        assert facts.no_new_privs and not facts.root_writable, format_table(rows)
        assert not {"net", "mnt", "pid", "ipc", "uts"} & {n for n, s in row.shared.items() if s}
        assert facts.memory_limit is not None and facts.cpu_limit is not None
        # Docker's default seccomp profile, the compose file's pids_limit, and no host path.
        assert facts.seccomp == 2 and facts.pids_limit in (128, 512), format_table(rows)
        assert facts.visible_host_paths == (), format_table(rows)


def test_the_dashboards_audit_panel_is_the_audit_table(stack: DockerDriver) -> None:
    panel = panels.audit(stack)
    assert panel["available"] is True, panel["text"]
    lines = panel["text"].splitlines()
    assert lines[0].split()[:3] == ["instance", "uid:gid", "CapEff"]
    assert {line.split()[0] for line in lines[1:]} == {r.instance for r in audit(stack)}
