"""The model: local's CPU per request plus what each leg's primitive adds in the ladder."""

from __future__ import annotations

import pytest

from shopnet.bench import model


def ladder_of(cpu_us: dict[str, float]) -> dict[str, list[dict[str, object]]]:
    """A ladder run with one sample per row, as `shopnet bench --ladder` records it."""
    return {"samples": [{"row": row, "cpu_us": cpu} for row, cpu in cpu_us.items()]}


def test_prediction_adds_each_legs_hop_over_loopback() -> None:
    ladder = ladder_of(
        {"loopback": 10.0, "published port (DNAT)": 16.0, "docker network": 17.0, "bridge": 12.0}
    )
    found = {p.mode: p for p in model.predict(ladder, {"local": 100.0, "docker": 125.0})}
    docker = found["docker"]
    assert docker.hops_us == 6 + 7 + 7 and docker.predicted_us == 120.0
    assert docker.error == pytest.approx(120 / 125 - 1) and docker.closes
    assert found["local"].predicted_us == 100.0 and found["local"].closes
    assert "netns" not in found  # its rows were not measured: no prediction, not a guess
    assert not model.Prediction("x", ("a", "b", "c"), 1.0, 100.0, 150.0).closes
    table = "\n".join(model.lines(list(found.values())))
    assert "| docker | published port (DNAT) / docker network / docker network | +20.0 |" in table


NETNS_ROWS = {"loopback": 10.0, "host-port DNAT": 17.0, "bridge": 13.0, "routed + nftables": 16.0}
LADDER = ladder_of(NETNS_ROWS)


def test_attached_is_priced_by_the_bridge_with_its_forward_chain_or_says_its_floor() -> None:
    with_row = ladder_of(NETNS_ROWS | {"bridge + nftables": 18.0})
    (attached,) = [
        p for p in model.predict(with_row, {"local": 100.0, "netns:attached": 130.0})
        if p.mode == "netns:attached"
    ]  # fmt: skip
    assert attached.legs == ("host-port DNAT", "bridge + nftables", "bridge + nftables")
    assert attached.hops_us == 7 + 8 + 8
    (floor,) = [
        p for p in model.predict(LADDER, {"local": 100.0, "netns:attached": 130.0})
        if p.mode == "netns:attached"
    ]  # fmt: skip
    assert floor.legs == ("host-port DNAT", "bridge", "bridge") and floor.hops_us == 7 + 3 + 3
    text = "\n".join(model.lines([floor]))
    assert "Priced by a floor" in text and "bridge (for bridge + nftables)" in text


def test_a_gap_is_told_by_component_with_each_ones_system_time() -> None:
    local = {"gateway": 50.0, "gateway system": 10.0, "product": 50.0, "product system": 9.0,
             "kernel softirq": 10.0, "other": 0.0, "total": 110.0}  # fmt: skip
    attached = {"gateway": 70.0, "gateway system": 25.0, "product": 62.0, "product system": 20.0,
                "kernel softirq": 16.0, "redis": 0.2, "other": 0.0, "total": 148.0}  # fmt: skip
    measured = {"local": 110.0, "netns:attached": 148.0}
    found = {p.mode: p for p in model.predict(LADDER, measured, {"local": local,
                                                                  "netns:attached": attached})}  # fmt: skip
    gap = found["netns:attached"]
    assert gap.predicted_us == 110.0 + 13.0 and not gap.closes
    assert gap.over_local[:2] == (("gateway", 20.0), ("gateway system", 15.0))
    assert ("redis", 0.2) not in gap.over_local  # under half a microsecond: not a cause
    text = "\n".join(model.lines(list(found.values())))
    assert (
        "- **netns:attached**: measured 148.0 µs, predicted 123.0: 25.0 µs more than its legs' "
        "rows price (+13.0 µs over local for all three). Over local it spends: gateway +20.0 "
        "(system +15.0), product +12.0 (system +11.0), kernel softirq +6.0 µs per request."
    ) in text
    assert "- **local**" not in text  # it closes: nothing to explain


def test_a_rows_softirq_is_counted_once_the_probes_time_already_holds_it() -> None:
    ladder = {
        "samples": [
            {"row": "loopback", "cpu_us": 10.0, "softirq_us": 2.0},
            {"row": "loopback", "cpu_us": 12.0, "softirq_us": 2.0},
            {"row": "published port (DNAT)", "cpu_us": 16.0, "softirq_us": 3.0},
            {"row": "docker network", "cpu_us": 18.0, "softirq_us": 6.0},
        ]
    }
    assert model.row_cpu(ladder) == {"loopback": 9.0, "published port (DNAT)": 13.0,
                                     "docker network": 12.0}  # fmt: skip
    (docker,) = [p for p in model.predict(ladder, {"local": 100.0, "docker": 110.0})
                 if p.mode == "docker"]  # fmt: skip
    assert docker.hops_us == 4 + 3 + 3 and docker.closes


def test_swarm_spreads_its_inner_legs_over_the_node_and_the_overlay() -> None:
    # One product replica per node, Redis on node 1: half the inner legs stay on node 1's
    # overlay (the docker network row), half cross VXLAN to node 2 (the swarm overlay row).
    rows = {"loopback": 10.0, "published port (DNAT)": 16.0, "docker network": 17.0}
    ladder = ladder_of(rows | {"swarm overlay": 27.0})
    found = {p.mode: p for p in model.predict(ladder, {"local": 100.0, "swarm": 130.0})}
    swarm = found["swarm"]
    assert swarm.hops_us == 6 + (7 + 17) / 2 * 2 and swarm.predicted_us == 130.0
    table = "\n".join(model.lines(list(found.values())))
    legs = "published port (DNAT) / ½ docker network + ½ swarm overlay / ½ docker network + ½ swarm overlay"
    assert f"| swarm | {legs} | +30.0 |" in table
    without = ladder_of(rows)
    assert "swarm" not in {p.mode for p in model.predict(without, {"local": 100.0, "swarm": 1.0})}
