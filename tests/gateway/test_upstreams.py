"""The balancer (shopnet.common.upstreams): round-robin, exclusion, passive ejection, on a test clock."""

from __future__ import annotations

import pytest

from shopnet.common.registry_client import ServiceInstance
from shopnet.common.upstreams import Endpoint, UpstreamPool


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def instances(*ids: str) -> list[ServiceInstance]:
    return [ServiceInstance(i, "10.0.0.1", 3001 + n) for n, i in enumerate(ids)]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ejected() -> list[str]:
    return []


@pytest.fixture
def available_counts() -> list[int]:
    return []


@pytest.fixture
def pool(clock: Clock, ejected: list[str], available_counts: list[int]) -> UpstreamPool:
    p = UpstreamPool(
        "product",
        eject_after=3,
        base_ejection_seconds=10.0,
        max_ejection_seconds=25.0,
        clock=clock,
        on_eject=lambda e: ejected.append(e.id),
        on_available=available_counts.append,
    )
    p.update(instances("a", "b", "c"))
    return p


def picks(pool: UpstreamPool, n: int) -> list[str]:
    out = []
    for _ in range(n):
        endpoint = pool.pick()
        assert endpoint is not None
        out.append(endpoint.id)
    return out


def by_id(pool: UpstreamPool, instance_id: str) -> Endpoint:
    return next(e for e in pool.endpoints if e.id == instance_id)


def fail(pool: UpstreamPool, instance_id: str, times: int) -> None:
    for _ in range(times):
        pool.failed(by_id(pool, instance_id))


def test_round_robin_in_order(pool: UpstreamPool) -> None:
    assert picks(pool, 7) == ["a", "b", "c", "a", "b", "c", "a"]


def test_empty_pool_picks_nothing() -> None:
    assert UpstreamPool("product").pick() is None


def test_pick_skips_excluded(pool: UpstreamPool) -> None:
    a, b, c = (by_id(pool, i) for i in "abc")
    assert pool.pick() is a
    assert pool.pick([a]) is b
    assert pool.pick([a, b]) is c
    assert pool.pick([a, b, c]) is None


def test_retries_do_not_move_the_rotation(pool: UpstreamPool) -> None:
    a = by_id(pool, "a")
    first = []
    for _ in range(4):
        endpoint = pool.pick()
        assert endpoint is not None
        first.append(endpoint.id)
        if endpoint is a:
            retry = pool.pick([a])  # a failed: the retry goes elsewhere
            assert retry is not None and retry is not a
    assert first == ["a", "b", "c", "a"]


def test_endpoint_base_url(pool: UpstreamPool) -> None:
    assert by_id(pool, "b").base_url == "http://10.0.0.1:3002"


def test_update_keeps_state_of_instances_that_stay(pool: UpstreamPool) -> None:
    fail(pool, "a", 2)
    pool.update(instances("a", "b", "c", "d"))
    assert by_id(pool, "a").consecutive_failures == 2
    assert {e.id for e in pool.available()} == {"a", "b", "c", "d"}


def test_update_with_new_address_starts_fresh(pool: UpstreamPool) -> None:
    fail(pool, "a", 2)
    pool.update([ServiceInstance("a", "10.0.0.9", 3001), *instances("x", "b")[1:]])
    assert by_id(pool, "a").consecutive_failures == 0
    assert by_id(pool, "a").base_url == "http://10.0.0.9:3001"


def test_update_removes_instances(pool: UpstreamPool) -> None:
    pool.update(instances("a", "b")[1:])
    assert picks(pool, 3) == ["b", "b", "b"]


def test_ejected_after_consecutive_failures(
    pool: UpstreamPool, ejected: list[str], available_counts: list[int]
) -> None:
    fail(pool, "b", 2)
    assert ejected == []
    fail(pool, "b", 1)
    assert ejected == ["b"]
    assert available_counts[-1] == 2
    assert [e.id for e in pool.available()] == ["a", "c"]
    assert set(picks(pool, 6)) == {"a", "c"}


def test_success_resets_the_failure_count(pool: UpstreamPool, ejected: list[str]) -> None:
    fail(pool, "b", 2)
    pool.succeeded(by_id(pool, "b"))
    fail(pool, "b", 2)
    assert ejected == []


def test_returns_when_the_ejection_time_is_up(
    pool: UpstreamPool, clock: Clock, available_counts: list[int]
) -> None:
    fail(pool, "b", 3)
    clock.now += 9.9
    assert "b" not in {e.id for e in pool.available()}
    clock.now += 0.2
    assert "b" in {e.id for e in pool.available()}
    assert available_counts[-1] == 3
    assert set(picks(pool, 3)) == {"a", "b", "c"}


def test_ejection_time_grows_and_is_capped(pool: UpstreamPool, clock: Clock) -> None:
    b = by_id(pool, "b")
    expected = [10.0, 20.0, 25.0, 25.0]  # base × ejections, capped at max
    for seconds in expected:
        fail(pool, "b", 3)
        assert b.ejected_until == pytest.approx(clock.now + seconds)
        clock.now = b.ejected_until
        pool.available()


def test_failures_while_ejected_do_not_extend_the_ejection(
    pool: UpstreamPool, ejected: list[str]
) -> None:
    fail(pool, "b", 3)
    until = by_id(pool, "b").ejected_until
    fail(pool, "b", 6)  # in-flight requests that were already on their way to it
    assert ejected == ["b"]
    assert by_id(pool, "b").ejected_until == until


def test_never_ejects_the_last_instance(pool: UpstreamPool, ejected: list[str]) -> None:
    fail(pool, "a", 3)
    fail(pool, "b", 3)
    fail(pool, "c", 30)
    assert ejected == ["a", "b"]
    assert picks(pool, 2) == ["c", "c"]


def test_single_instance_is_never_ejected(clock: Clock) -> None:
    pool = UpstreamPool("product", eject_after=1, clock=clock)
    pool.update(instances("a"))
    fail(pool, "a", 10)
    assert [e.id for e in pool.available()] == ["a"]


def test_membership_change_under_ejections_falls_back_to_all(
    pool: UpstreamPool, ejected: list[str]
) -> None:
    fail(pool, "a", 3)
    fail(pool, "b", 3)
    pool.update(instances("a", "b"))  # c left: only ejected instances remain
    assert {e.id for e in pool.available()} == {"a", "b"}


def test_failure_of_a_removed_endpoint_is_ignored(pool: UpstreamPool, ejected: list[str]) -> None:
    old_b = by_id(pool, "b")
    pool.update([i for i in instances("a", "b", "c") if i.id != "b"])
    for _ in range(5):
        pool.failed(old_b)
    assert ejected == []
    assert {e.id for e in pool.available()} == {"a", "c"}
