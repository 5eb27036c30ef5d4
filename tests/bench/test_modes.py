"""`--modes` with variants: parsed and checked against the topology before anything runs."""

from __future__ import annotations

import pytest

from shopnet.bench.command import options_from
from shopnet.cli import build_parser
from shopnet.errors import ConfigError
from shopnet.topology import default_topology


def modes(text: str) -> tuple[str, ...]:
    args = build_parser().parse_args(["bench", "--modes", text])
    return options_from(args, default_topology()).modes


def test_every_variant_in_one_interleaved_run() -> None:
    assert modes("netns:routed,netns:attached,docker:tiered,docker:single,docker:single:dns") == (
        "netns",
        "netns:attached",
        "docker",
        "docker:single",
        "docker:single:dns",
    )
    assert modes("local,netns,docker") == ("local", "netns", "docker")


@pytest.mark.parametrize("text", ["k8s", "netns:single", "docker:single:consul", "local:routed"])
def test_unknown_modes_and_variants_fail_first(text: str) -> None:
    with pytest.raises(ConfigError):
        modes(text)
