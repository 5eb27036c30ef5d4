"""Recording and restoring host sysctls, shared by several testbeds — on a real kernel
value: a per-interface sysctl of a veth pair that only this test uses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pyroute2 import IPRoute

from shopnet_netns import sysctl
from tests.netns.helpers import root_only

pytestmark = root_only

KEY = "net.ipv4.conf.stsys0.arp_announce"  # 0, 1 or 2; nobody else looks at stsys0


@pytest.fixture
def key() -> Iterator[str]:
    with IPRoute() as ipr:
        if found := ipr.link_lookup(ifname="stsys0"):
            ipr.link("del", index=found[0])
        ipr.link("add", ifname="stsys0", kind="veth", peer="stsys1")
        try:
            sysctl.write(KEY, "0")
            yield KEY
        finally:
            ipr.link("del", index=ipr.link_lookup(ifname="stsys0")[0])


def test_the_last_owner_restores(key: str, tmp_path: Path) -> None:
    record = tmp_path / "sysctl.json"
    assert sysctl.ensure("alpha", {key: "1"}, record=record) == {key: "0"}
    assert sysctl.read(key) == "1"
    assert sysctl.ensure("beta", {key: "1"}, record=record) == {}  # already set: nothing changed
    assert sysctl.owners(record=record) == ["alpha", "beta"]

    assert sysctl.restore("alpha", record=record) == ([], [])  # beta still needs it
    assert sysctl.read(key) == "1"
    assert sysctl.restore("beta", record=record) == ([f"{key}=0"], [])
    assert sysctl.read(key) == "0"
    assert not record.exists()


def test_a_value_changed_by_someone_else_is_left_alone(key: str, tmp_path: Path) -> None:
    record = tmp_path / "sysctl.json"
    sysctl.ensure("alpha", {key: "1"}, record=record)
    sysctl.write(key, "2")  # someone else's decision, after ours
    restored, problems = sysctl.restore("alpha", record=record)
    assert restored == []
    assert problems == [f"{key} is 2, changed by someone else since we set it; left alone"]
    assert sysctl.read(key) == "2"


def test_a_rebuild_keeps_the_original_value(key: str, tmp_path: Path) -> None:
    record = tmp_path / "sysctl.json"
    sysctl.ensure("alpha", {key: "1"}, record=record)
    sysctl.ensure("alpha", {key: "1"}, record=record)  # second build: previous is now 1
    assert sysctl.restore("alpha", record=record) == ([f"{key}=0"], [])
    assert sysctl.read(key) == "0"
