"""Least privilege measured on running stacks: netns (and local as root) from the outside in.

Whole stacks, so run under the shared lock:
    flock /tmp/shopnet-stack.lock .venv/bin/python -m pytest tests/e2e/test_least_privilege.py
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from shopnet.runtime import datastores
from tests.support.servers import scratch_dir
from tests.support.stack import require_default_resources, shopnet

pytestmark = [
    pytest.mark.slow,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox is set up by root"),
]

APPS = {"gateway", "registry", "product", "order"}


@pytest.fixture(scope="module", params=["netns", "local"])
def stack(request: pytest.FixtureRequest) -> Iterator[tuple[str, Path]]:
    mode = request.param
    require_default_resources(mode)
    root = scratch_dir(f"shopnet-e2e-sandbox-{mode}-")
    try:
        shopnet(root, "up", "--mode", mode)
        yield mode, root
    finally:
        down = shopnet(root, "down", "--mode", mode, "--volumes", check=False)
        assert "killed" not in down.stderr, down.stderr  # every process stopped on its signal


def audit(root: Path, mode: str) -> list[dict]:
    return json.loads(shopnet(root, "audit", "--mode", mode, "--json").stdout)


def test_no_instance_runs_privileged(stack: tuple[str, Path]) -> None:
    mode, root = stack
    rows = audit(root, mode)
    assert {r["service"] for r in rows} == APPS | {"postgres", "redis"}
    for row in rows:
        assert row["uid"] != 0 and row["gid"] != 0, row
        assert row["cap_eff"] == "0" * 16 and row["cap_bnd"] == "0" * 16, row
        assert row["no_new_privs"] is True, row
        assert row["root_fs_writable"] is False, row
        assert "mnt" not in row["shared_namespaces"], row
        # The syscall filter, a pids cgroup, and the host's /run, /home, /root out of sight.
        assert row["seccomp"] == 2, row
        assert row["pids_limit"] == (512 if row["service"] not in APPS else 128), row
        assert row["visible_host_paths"] == [], row
        if mode == "netns":
            assert not {"net", "pid", "ipc", "uts"} & set(row["shared_namespaces"]), row
            assert row["host_processes_visible"] is False, row
            assert row["exposure"] < 3, row
        print(row["instance"], row["exposure"], row["failed_checks"])  # for the record (-s)
    assert len({r["uid"] for r in rows if r["service"] in APPS}) == len(APPS)  # one user each


def test_the_audit_table_names_every_instance(stack: tuple[str, Path]) -> None:
    mode, root = stack
    text = shopnet(root, "audit", "--mode", mode).stdout
    for name in ("gateway-1", "product-1", "postgres-1", "redis-1"):
        assert name in text
    assert "exposure" in text.splitlines()[0]


def test_files_are_private(stack: tuple[str, Path]) -> None:
    mode, root = stack
    base = root / mode
    loose = []
    for path in [base, *base.rglob("*")]:
        if path.is_symlink() or path.is_socket():
            continue
        try:
            st = path.lstat()
        except FileNotFoundError:  # e.g. a PostgreSQL temp file that just went
            continue
        mode_bits = stat.S_IMODE(st.st_mode)
        if stat.S_ISDIR(st.st_mode):
            allowed = (
                {0o700, 0o711}
                if path in (base, base / "data", base / "data" / "secrets")
                else {0o700}
            )
            # PostgreSQL keeps its own modes inside its data directory (0700 at the top).
            if base / "data" / "postgres" in path.parents:
                continue
        else:
            allowed = {0o600, 0o400}
            if base / "data" / "postgres" in path.parents:
                continue
        if mode_bits not in allowed:
            loose.append(f"{path} {oct(mode_bits)}")
    assert not loose
    secrets = base / "data" / "secrets"
    assert (secrets / "product" / "redis").stat().st_uid != 0  # owned by the service's user
    assert (secrets / "runtime").stat().st_uid == 0


def test_datastores_refuse_who_has_no_business(stack: tuple[str, Path]) -> None:
    mode, root = stack
    state = json.loads((root / mode / "state.json").read_text())
    where = {i["name"]: (i["address"], i["port"]) for i in state["instances"]}
    host, port = where["redis-1"]
    assert datastores.redis_command(host, port, "PING").startswith(b"-NOAUTH")
    secrets = root / mode / "data" / "secrets"
    product = ("product", (secrets / "product" / "redis").read_text().strip())
    assert datastores.redis_command(host, port, "GET", "order:1", auth=product).startswith(
        b"-NOPERM"
    )
    assert datastores.redis_command(host, port, "FLUSHALL", auth=product).startswith(b"-NOPERM")
    pg_host, pg_port = where["postgres-1"]
    env = {
        "PGPASSWORD": (secrets / "product" / "postgres").read_text().strip(),
        "PATH": os.environ["PATH"],
    }
    done = subprocess.run(
        [
            datastores.find_binary("psql"),
            "-X",
            "-h",
            pg_host,
            "-p",
            str(pg_port),
            "-U",
            "product_app",
            "shopnet",
            "-c",
            "SELECT count(*) FROM orders.orders",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0 and "permission denied" in done.stderr


def test_secrets_stay_out_of_argv_environment_and_status(stack: tuple[str, Path]) -> None:
    mode, root = stack
    secrets = root / mode / "data" / "secrets"
    values = [p.read_text().strip() for p in secrets.glob("*/*") if p.name != "users.acl"]
    values.append((root / mode / "data" / "db-password").read_text().strip())
    status = shopnet(root, "status", "--mode", mode, "--json").stdout
    logs = list(Path(root / mode / "logs").glob("*.log"))
    texts = [status] + [p.read_text(errors="replace") for p in logs]
    for pid in (int(p.read_text().split()[0]) for p in (root / mode / "pids").glob("*.pid")):
        texts.append(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"))
        texts.append(Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace"))
    leaked = [v for v in values if any(v in t for t in texts)]
    assert not leaked
    assert len(values) > 1 and all(values)  # the secrets above were real ones
