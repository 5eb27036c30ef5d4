"""A freshly built testbed per test, torn down after it — and proof that nothing is left."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shopnet_netns import NetworkPlan, build, discover, teardown
from tests.netns.helpers import leftovers, testbed_plan


@pytest.fixture
def plan() -> NetworkPlan:
    return testbed_plan()


@pytest.fixture
def clean(plan: NetworkPlan) -> Iterator[NetworkPlan]:
    """No leftovers before the test (a crashed earlier run) and none after it."""
    teardown(plan.names)
    yield plan
    report = teardown(plan.names)
    assert report.problems == ()
    leftover = discover(plan.names)
    assert leftover.empty, leftover.lines()
    assert leftovers(plan) == []  # as the system's own tools see it


@pytest.fixture
def network(clean: NetworkPlan) -> NetworkPlan:
    build(clean)
    return clean
