"""The picture: layout of every instance and flow, and the README's SVG kept in step."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest

from shopnet.dashboard.layout import BOX_H, BOX_W, Layout, Placed, compute
from shopnet.dashboard.svg import edge_id, render, topology_svg
from shopnet.topology import default_topology
from shopnet.topology.model import WORLD

REPO = Path(__file__).resolve().parents[2]
CHECKED_IN = REPO / "docs" / "topology.svg"


def planned(scale: dict[str, int]) -> Layout:
    topology = default_topology()
    placed = [Placed(i.name, i.service.name, f"{i.address}:{i.port}") for i in topology.plan(scale)]
    return compute(topology, placed)


def test_checked_in_svg_matches_the_topology() -> None:
    assert CHECKED_IN.read_text() == topology_svg(default_topology(), {}), (
        "docs/topology.svg is out of date: run `make docs`"
    )


def test_topology_svg_command_writes_the_same_picture(tmp_path: Path) -> None:
    out = tmp_path / "t.svg"
    subprocess.run(
        [sys.executable, "-m", "shopnet", "topology", "--svg", str(out), "--scale", "product=2"],
        check=True,
    )
    assert out.read_text() == topology_svg(default_topology(), {"product": 2})


@pytest.mark.parametrize("scale", [{}, {"product": 3}, {"product": 10, "order": 10}])
def test_every_instance_sits_in_its_tier_without_overlap(scale: dict[str, int]) -> None:
    topology = default_topology()
    layout = planned(scale)
    bands = {b.tier: b for b in layout.bands}
    names = {b.name for b in layout.boxes}
    assert names == {i.name for i in topology.plan(scale)} | {WORLD}
    for box in layout.boxes:
        assert box.x >= 0 and box.x + BOX_W <= layout.width, box
        if box.name != WORLD:
            band = bands[topology.service(box.service).tier]
            assert band.y < box.y and box.y + BOX_H <= band.y + band.height, box
    for a, b in itertools.combinations(layout.boxes, 2):
        apart = a.x + BOX_W <= b.x or b.x + BOX_W <= a.x or a.y + BOX_H <= b.y or b.y + BOX_H <= a.y
        assert apart, (a.name, b.name)


def test_every_flow_is_an_edge_with_its_own_label_place() -> None:
    topology = default_topology()
    layout = planned({"product": 2})
    assert [e.id for e in layout.edges] == [f"{f.source}->{f.target}" for f in topology.flows]
    labels = [(round(e.label_x), round(e.label_y)) for e in layout.edges]
    for (x1, y1), (x2, y2) in itertools.combinations(labels, 2):
        assert abs(x1 - x2) > 40 or abs(y1 - y2) > 20, "two edge labels on top of each other"


def test_svg_carries_the_ids_the_page_updates() -> None:
    layout = planned({"product": 2})
    drawing = render(layout)
    for box in layout.boxes:
        assert f'id="node-{box.name}"' in drawing
    for edge in layout.edges:
        assert f'id="edge-{edge_id(edge.id)}"' in drawing
        assert f'id="elabel-{edge_id(edge.id)}"' in drawing
    assert "172.21.0.0/24" in drawing and 'id="denied-marks"' in drawing
