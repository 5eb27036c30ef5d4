"""What each mode can do beyond the life cycle: the capability protocols its driver
implements (callers ask with isinstance, never by mode name)."""

from __future__ import annotations

import inspect

import pytest

from shopnet.runtime import capabilities
from shopnet.runtime.base import DRIVERS, Driver, driver_class

CAPABILITIES = [
    c
    for c in vars(capabilities).values()
    if inspect.isclass(c) and getattr(c, "_is_runtime_protocol", False)
]

EXPECTED = {
    "local": {"TierSegments", "Backups", "CacheFlushing", "HelperProcesses"},
    "netns": {
        "TierShaping",
        "TierCapture",
        "IsolationProbe",
        "TierSegments",
        "NftablesFirewall",
        "Backups",
        "CacheFlushing",
        "EntryPoints",
        "HelperProcesses",
    },
    "docker": {
        "TierShaping",
        "TierCapture",
        "IsolationProbe",
        "ContainerEngine",
        "TierSegments",
        "Backups",
        "CacheFlushing",
        "EntryPoints",
    },
    # Overlays live in Swarm's namespaces: no tier links on the host to shape or capture.
    "swarm": {
        "IsolationProbe",
        "ContainerEngine",
        "TierSegments",
        "Backups",
        "CacheFlushing",
        "EntryPoints",
    },
}


@pytest.mark.parametrize("mode", DRIVERS)
def test_each_mode_has_the_capabilities_it_declares(mode: str) -> None:
    cls = driver_class(mode)
    assert {c.__name__ for c in CAPABILITIES if issubclass(cls, c)} == EXPECTED[mode]


def test_the_driver_interface_is_the_life_cycle() -> None:
    """Everything else is a capability: the base class declares no diagnostics, data
    operations or bench hooks."""
    public = {n for n, v in vars(Driver).items() if not n.startswith("_") and callable(v)}
    assert public == {
        "describe_variant",
        "up",
        "refuse_leftovers",
        "smoke_test",
        "roll_back",
        "running",
        "leftovers",
        "leftovers_message",
        "preflight",
        "start",
        "wait_ready",
        "mark_up",
        "state",
        "state_or_none",
        "require_state",
        "present",
        "has_data",
        "down",
        "status",
        "exec",
        "exec_note",
        "log_path",
        "logs",
    }
    capability_methods = {n for c in CAPABILITIES for n in vars(c) if not n.startswith("_")}
    assert not public & capability_methods
