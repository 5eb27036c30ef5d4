"""The lab catalog and the verbs' usage, without a stack."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from shopnet.errors import ConfigError
from shopnet.lab import session
from shopnet.lab.catalog import LABS
from shopnet.runtime.base import make_driver
from shopnet.runtime.progress import Progress
from shopnet.runtime.variant import resolve
from shopnet.topology import default_topology
from tests.support.stack import shopnet

ISSUE_FAULTS = 7


def test_seven_labs_with_names_symptoms_and_graded_hints() -> None:
    assert len(LABS) >= ISSUE_FAULTS
    assert len({lab.name for lab in LABS}) == len(LABS)
    for lab in LABS:
        assert re.fullmatch(r"[a-z][a-z0-9-]*", lab.name), lab.name
        assert lab.symptom and lab.teaches
        assert len(lab.hints) >= 2, lab.name
        assert lab.expect[0] in {"health", "main path", "cache", "large answer", "order",
                                 "isolation", "p99"}  # fmt: skip


def test_list_prints_one_lab_a_line_name_first(tmp_path: Path) -> None:
    lines = shopnet(tmp_path, "lab", "list").stdout.splitlines()
    assert [line.split()[0] for line in lines] == [lab.name for lab in LABS]


def test_list_json_has_name_mode_and_hosts(tmp_path: Path) -> None:
    listed = json.loads(shopnet(tmp_path, "lab", "list", "--json").stdout)
    assert [item["name"] for item in listed] == [lab.name for lab in LABS]
    wants = {"netns": "routed", "docker": "tiered"}
    for item in listed:
        assert wants[item["mode"]] == item["wiring"], item
        assert item["hosts"] >= 1
    modes = {item["mode"] for item in listed}
    assert modes == {"netns", "docker"}
    assert any(item["hosts"] == 2 for item in listed)  # the VXLAN lab needs two hosts


@pytest.mark.parametrize(
    "argv",
    [("lab", "start"), ("lab", "check", "orders-fail"), ("lab", "hint", "--json"), ("lab", "nope")],
)
def test_usage_errors_exit_2_before_looking_for_a_stack(
    tmp_path: Path, argv: tuple[str, ...]
) -> None:
    result = shopnet(tmp_path, *argv, check=False)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) >= 1


def test_validate_and_lab_without_a_stack_say_so(tmp_path: Path) -> None:
    # --mode local: a stack of someone else's in another mode must not be picked up.
    for argv in (("validate",), ("lab", "check")):
        result = shopnet(tmp_path, *argv, "--mode", "local", check=False)
        assert result.returncode == 4, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "shopnet up" in result.stderr or "lab start" in result.stderr, result.stderr


def test_start_on_the_wrong_wiring_says_in_one_line_what_it_needs(tmp_path: Path) -> None:
    pytest.importorskip("pyroute2")
    topology = default_topology()
    for mode, wiring in (("netns", "attached"), ("local", None)):
        driver = make_driver(
            mode,
            topology=topology,
            root=tmp_path,
            progress=Progress(quiet=True),
            variant=resolve(topology, mode, wiring, None),
        )
        with pytest.raises(ConfigError) as raised:
            session.start(driver, "database-unreachable")
        message = str(raised.value)
        assert "\n" not in message
        assert message.startswith(
            "lab database-unreachable needs a netns stack with the routed wiring on one host"
        ), message
        assert f"(running: {mode}" in message


def test_a_docker_lab_on_netns_and_a_two_host_lab_on_one_host_say_what_they_need(
    tmp_path: Path,
) -> None:
    pytest.importorskip("pyroute2")
    topology = default_topology()
    driver = make_driver(
        "netns",
        topology=topology,
        root=tmp_path,
        progress=Progress(quiet=True),
        variant=resolve(topology, "netns", None, None),
    )
    two_hosts = next(lab for lab in LABS if lab.hosts == 2)
    docker = next(lab for lab in LABS if lab.mode == "docker")
    for lab, needs, how in (
        (docker, "a docker stack with the tiered wiring on one host", "--mode docker"),
        (two_hosts, "a netns stack with the routed wiring on 2 hosts", "--mode netns --hosts 2"),
    ):
        with pytest.raises(ConfigError) as raised:
            session.start(driver, lab.name)
        message = str(raised.value)
        assert "\n" not in message
        assert message.startswith(f"lab {lab.name} needs {needs} (running: netns routed)")
        assert message.endswith(f"`shopnet up {how}`"), message


def test_unknown_lab_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="labs: orders-fail, "):
        session.lab_named("nope")


def test_bound_is_three_times_the_baseline_and_never_tight() -> None:
    assert session.bound_for(4.0) == 29.0
    assert session.bound_for(40.0) == 120.0


def test_every_lab_has_its_section_in_the_docs_with_its_story() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "labs.md").read_text()
    sections = dict(re.findall(r"^### (\S+)\n(.*?)(?=^### |^## |\Z)", docs, re.M | re.S))
    assert list(sections) == [lab.name for lab in LABS]
    for lab in LABS:
        text = " ".join(sections[lab.name].split())
        assert f'**Story.** "{lab.symptom}"' in text, lab.name
        assert "<summary>Solution</summary>" in text, lab.name
