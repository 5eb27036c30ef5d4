"""The sandbox wrapper, the audit's parser and score, and the ACL/role text: no processes."""

from __future__ import annotations

import os
import re
import shutil
import signal
from pathlib import Path

import pytest

from shopnet.audit import probe, score
from shopnet.runtime import datastore_auth, sandbox
from shopnet.runtime.users import User
from shopnet.topology import default_topology
from tests.support.servers import scratch_dir

NOBODY = User("nobody", 65534, 65534)


def test_every_read_only_remount_is_a_bind_remount() -> None:
    box = sandbox.Sandbox(user=NOBODY, writable=(Path("/srv/own"),), hostname="product-1")
    script = sandbox.setup_script(box, pidfile=Path("/x/p.pid"), stop_signal=15, stop_phase=0)
    remounts = re.findall(r"mount -o (\S+)", script)
    assert remounts and all("bind" in opts for opts in remounts)
    assert "remount,bind,ro" in script
    assert script.rstrip().endswith('"$@"')
    assert "--no-new-privs" in script and "--bounding-set=-all" in script


def test_the_wrapper_keeps_the_stop_signal_and_drops_everything() -> None:
    argv = sandbox.wrap(
        ("/bin/true",),
        sandbox.Sandbox(user=NOBODY),
        pidfile=Path("/x/p.pid"),
        stop_signal=signal.SIGINT,
        stop_phase=1,
    )
    assert argv[:2] == ("unshare", "--mount")
    assert {"--pid", "--ipc", "--uts", "--kill-child"} <= set(argv)
    assert argv[-1] == "/bin/true"
    script = argv[argv.index("-ec") + 1]
    assert f" {int(signal.SIGINT)} 1\\n" in script  # the pidfile line keeps signal and phase


def test_a_mount_namespace_only_sandbox_writes_no_pidfile() -> None:
    box = sandbox.Sandbox(user=NOBODY, private_pids=False)
    argv = sandbox.wrap(("x",), box, pidfile=Path("/p"), stop_signal=15, stop_phase=0)
    assert "--pid" not in argv and "/proc/self/stat" not in argv[argv.index("-ec") + 1]


def test_untraversable_ancestors_get_a_shim_for_the_needed_child() -> None:
    tmp_path = scratch_dir("shopnet-test-shim-")
    closed = tmp_path / "closed"
    (closed / "inner" / "deep").mkdir(parents=True)
    closed.chmod(0o700)
    try:
        shims = sandbox.hidden_ancestors(NOBODY, [closed / "inner" / "deep"])
    finally:
        shutil.rmtree(tmp_path)
    assert shims == {closed: {closed / "inner"}}


def test_the_stage_avoids_everything_covered() -> None:
    stage = sandbox.stage_for([Path("/tmp"), Path("/mnt/x")])
    assert stage != Path("/mnt") and stage.is_dir()


STATUS = """== status
Name:\tpython3
Uid:\t986\t986\t986\t986
Gid:\t986\t986\t986\t986
CapEff:\t0000000000000000
CapBnd:\t0000000000000000
NoNewPrivs:\t1
Seccomp:\t2
== ns
net net:[1]
mnt mnt:[2]
pid pid:[3]
ipc ipc:[4]
uts uts:[5]
user user:[6]
cgroup cgroup:[7]
== root
ro,relatime
== procs
2
== limits
memory.limit_in_bytes 268435456
cpu.cfs_quota_us 50000
cpu.cfs_period_us 100000
pids.max max
== apparmor
unconfined
== mounts
/run 0:91 /
/var/run 0:91 /
/home 254:0 /home
/root hidden
"""
HOST_MOUNTS = {"/run": "0:25 /", "/var/run": "0:25 /", "/home": "254:0 /home", "/root": "254:0 /"}


def test_probe_output_parses() -> None:
    facts = probe.parse(STATUS)
    assert (facts.uid, facts.cap_eff, facts.no_new_privs, facts.seccomp) == (986, 0, True, 2)
    assert not facts.root_writable and facts.visible_processes == 2
    assert facts.memory_limit == 256 * 2**20 and facts.cpu_limit == 0.5
    assert facts.pids_limit is None


def test_masked_paths_are_those_on_another_mount_than_the_host_s() -> None:
    facts = probe.parse(STATUS)
    assert facts.mounts["/root"] == "hidden" and facts.visible_host_paths is None
    # /home is the host's own mount, /run a tmpfs of the sandbox's, /root out of reach.
    assert probe.with_host_mounts(facts, HOST_MOUNTS).visible_host_paths == ("/home",)
    masked = STATUS.replace("/home 254:0 /home", "/home 0:92 /")
    assert probe.with_host_mounts(probe.parse(masked), HOST_MOUNTS).visible_host_paths == ()
    # A host without /home has nothing there to show.
    no_home = {**HOST_MOUNTS, "/home": "absent"}
    assert probe.with_host_mounts(facts, no_home).visible_host_paths == ()


def test_the_host_s_own_mounts_are_read_like_the_probe_reads_them(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 254:0 / / rw - ext4 /dev/vda rw\n"
        "25 22 0:25 / /run rw,nosuid - tmpfs tmpfs rw\n"
        "26 25 0:26 / /run/user/0 rw - tmpfs tmpfs rw\n"
    )
    found = probe.host_mounts(mountinfo)
    assert found["/run"] == "0:25 /"
    if Path("/root").is_dir():
        assert found["/root"] == "254:0 /"


def test_exposure_is_zero_only_when_every_check_passes() -> None:
    facts = probe.with_host_mounts(probe.parse(STATUS), {**HOST_MOUNTS, "/home": "absent"})
    private = dict.fromkeys(probe.NAMESPACES, False)
    # ⌈500 · 100 / 16250⌉ / 10
    assert score.exposure(facts, private) == (0.4, ["no pids limit"])
    # Host paths shown (or never compared) weigh like systemd's ProtectHome=: ⌈1500·100/16250⌉.
    assert score.exposure(probe.parse(STATUS), private)[0] == 1.0
    shared = dict.fromkeys(probe.NAMESPACES, True)
    worst = probe.parse(
        STATUS.replace("986", "0")
        .replace("0000000000000000", "000001ffffffffff")
        .replace("NoNewPrivs:\t1", "NoNewPrivs:\t0")
        .replace("Seccomp:\t2", "Seccomp:\t0")
        .replace("ro,relatime", "rw,relatime")
        .replace("memory.limit_in_bytes 268435456", "")
        .replace("cpu.cfs_quota_us 50000", "")
    )
    assert score.exposure(worst, shared)[0] == 10.0
    assert score.label(10.0) == "DANGEROUS" and score.label(0.0) == "PERFECT"


def test_weights_are_documented() -> None:
    documented = [int(w) for w in re.findall(r"^ {4}\S.*?\s(\d+)$", score.__doc__ or "", re.M)]
    assert sorted(documented) == sorted(c.weight for c in score.CHECKS)


def test_acl_file_names_no_plain_password_and_turns_default_off() -> None:
    prefixes = datastore_auth.redis_prefixes(default_topology(), "redis")
    assert prefixes == {"product": "shopnet:product"}  # from default.toml's `uses`
    text = datastore_auth.redis_acl(
        {**prefixes, "cart": "t:c[1]"},
        {"product": "p-secret", "cart": "c-secret"},
        admin_password="a-secret",
    )
    assert "p-secret" not in text and "a-secret" not in text and "c-secret" not in text
    assert text.splitlines()[0].startswith("user default off")
    product = next(line for line in text.splitlines() if line.startswith("user product "))
    assert "-@dangerous" in product and "~*" not in product
    assert [w for w in product.split() if w.startswith("~")] == ["~shopnet:product*"]
    cart = next(line for line in text.splitlines() if line.startswith("user cart "))
    assert [w for w in cart.split() if w.startswith("~")] == ["~t:c\\[1\\]*"]  # glob escaped
    admin = next(line for line in text.splitlines() if line.startswith("user shopnet-admin "))
    assert "%W~shopnet:product*" in admin and "%W~t:c\\[1\\]*" in admin


def test_roles_sql_carries_verifiers_only() -> None:
    schemas = datastore_auth.schemas(default_topology())
    assert schemas == {"product": "products", "order": "orders"}  # from default.toml's `uses`
    sql = datastore_auth.roles_sql(schemas, {"product": "p-secret", "order": "o-secret"})
    assert "p-secret" not in sql and "o-secret" not in sql
    assert sql.count("SCRAM-SHA-256$4096:") == 2
    assert "CREATE SCHEMA IF NOT EXISTS orders AUTHORIZATION orders_owner;" in sql


def test_services_get_their_role_and_a_password_file_not_a_password() -> None:
    env = datastore_auth.authenticated_environment(
        {
            "DATABASE_URL": "postgresql://shopnet:super@db:5432/shopnet",
            "REDIS_URL": "redis://r:6379/0",
        },
        default_topology().service("product"),
        secret_file={"postgres": "/s/pg", "redis": "/s/redis"},
    )
    assert env["DATABASE_URL"] == "postgresql://product_app@db:5432/shopnet"
    assert env["REDIS_URL"] == "redis://product@r:6379/0"
    assert "super" not in "".join(env.values())
    assert env["SHOPNET_DB_MIGRATION_ROLE"] == "products_owner"


@pytest.mark.skipif(os.geteuid() == 0, reason="as root the sandbox runs instead")
def test_nothing_to_do_for_an_ordinary_user() -> None:
    assert sandbox.no_new_privs()[:2] == ("setpriv", "--no-new-privs")
