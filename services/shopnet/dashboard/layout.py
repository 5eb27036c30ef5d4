"""Where everything goes in the picture: tiers as bands, instances as boxes, flows as edges.

Computed once in Python from the topology and the instances that run, then used
twice: `svg.py` draws it (the static `topology --svg` file and the page's
picture are that one drawing) and the page receives it as JSON to place what
only it draws (denied marks between any two instances). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from shopnet.topology.model import WORLD, Kind, Topology

WIDTH = 960
"""The picture's width, unless a tier holds more boxes than fit (then it widens)."""
BOX_W = 150
BOX_H = 62
GAP = 18
BAND_TOP = 124
"""Room above the first band for the world node."""
BOX_TOP = 34
"""Boxes sit this far below their band's top edge (the band's title goes above)."""
BAND_PAD = 18
ARC_ROOM = 82
"""Below the boxes of a tier with flows inside it, for their arcs."""
BAND_GAP = 100
"""Between two bands: where the labels of the flows between tiers go."""


@dataclass(frozen=True, slots=True)
class Band:
    """A tier, drawn as a horizontal band."""

    tier: str
    title: str
    """E.g. `br-backend · 172.21.0.0/24` (what the mode calls the segment)."""
    internal: bool
    y: int
    height: int


@dataclass(frozen=True, slots=True)
class Box:
    """An instance (or the world), drawn as a box."""

    name: str
    service: str
    tier: str
    address: str
    x: int
    y: int
    datastore: bool = False

    @property
    def cx(self) -> float:
        return self.x + BOX_W / 2


@dataclass(frozen=True, slots=True)
class Edge:
    """An allowed flow, drawn from the source service's boxes to the target's."""

    id: str
    """`source->target`, the key live data uses."""
    source: str
    target: str
    port: int
    path: str
    """SVG path data."""
    label_x: float
    label_y: float


@dataclass(frozen=True, slots=True)
class Layout:
    width: int
    height: int
    bands: tuple[Band, ...]
    boxes: tuple[Box, ...]
    edges: tuple[Edge, ...]

    def box(self, name: str) -> Box:
        return next(b for b in self.boxes if b.name == name)

    def as_json(self) -> dict[str, object]:
        """What the page needs to place marks: every box's position and the size."""
        return {
            "width": self.width,
            "height": self.height,
            "box": {"w": BOX_W, "h": BOX_H},
            "boxes": {b.name: {"x": b.x, "y": b.y, "tier": b.tier} for b in self.boxes},
            "edges": [e.id for e in self.edges],
        }


@dataclass(frozen=True, slots=True)
class Placed:
    """An instance as the picture needs it (from the topology plan or a driver's status)."""

    name: str
    service: str
    address: str


def compute(
    topology: Topology, instances: list[Placed], *, titles: dict[str, str] | None = None
) -> Layout:
    """The layout of `instances` on `topology`; `titles` names each tier's segment."""
    titles = titles or {t.name: f"{t.bridge} · {t.subnet}" for t in topology.tiers}
    order = [s.name for s in topology.services]
    arcs = {
        topology.service(f.source).tier
        for f in topology.flows
        if f.source != WORLD and topology.service(f.source).tier == topology.service(f.target).tier
    }
    counts = [
        sum(topology.service(i.service).tier == t.name for i in instances) for t in topology.tiers
    ]
    width = max(WIDTH, max(counts, default=0) * (BOX_W + GAP) - GAP + 60)
    bands: list[Band] = []
    boxes: list[Box] = []
    y = BAND_TOP
    for tier in topology.tiers:
        height = BOX_TOP + BOX_H + (ARC_ROOM if tier.name in arcs else BAND_PAD)
        bands.append(Band(tier.name, titles.get(tier.name, ""), tier.internal, y, height))
        members = sorted(
            (i for i in instances if topology.service(i.service).tier == tier.name),
            key=lambda i: (order.index(i.service), _index(i.name)),
        )
        span = len(members) * BOX_W + max(len(members) - 1, 0) * GAP
        x = (width - span) // 2
        for member in members:
            datastore = topology.service(member.service).kind is Kind.DATASTORE
            boxes.append(
                Box(
                    member.name,
                    member.service,
                    tier.name,
                    member.address,
                    x,
                    y + BOX_TOP,
                    datastore,
                )
            )
            x += BOX_W + GAP
        y += height + BAND_GAP
    world = _world_box(topology, boxes, width)
    if world is not None:
        boxes.insert(0, world)
    flows = [(f.source, f.target, f.port) for f in topology.flows]
    flows = [f for f in flows if _of(boxes, f[0]) and _of(boxes, f[1])]
    edges = _edges(boxes, flows, {b.tier: b for b in bands})
    return Layout(width, y - BAND_GAP + 8, tuple(bands), tuple(boxes), edges)


def _index(name: str) -> int:
    tail = name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _world_box(topology: Topology, boxes: list[Box], width: int) -> Box | None:
    if not any(f.source == WORLD for f in topology.flows):
        return None
    targets = [b for f in topology.flows if f.source == WORLD for b in _of(boxes, f.target)]
    cx = sum(b.cx for b in targets) / len(targets) if targets else width / 2
    return Box(WORLD, WORLD, "", f"host :{topology.published_port}", round(cx - BOX_W / 2), 12)


def _of(boxes: list[Box], service: str) -> list[Box]:
    return [b for b in boxes if b.service == service]


def _center(boxes: list[Box]) -> float:
    return (boxes[0].x + boxes[-1].x + BOX_W) / 2


def _edges(
    boxes: list[Box], flows: list[tuple[str, str, int]], bands: dict[str, Band]
) -> tuple[Edge, ...]:
    """Curves between service groups; ends spread over a group's side, labels staggered."""
    # Which flows leave or reach each (service, side): "bottom" or "top".
    sides: dict[tuple[str, str], list[tuple[float, int]]] = {}
    ends: list[tuple[tuple[str, str], tuple[str, str]]] = []
    for k, (source, target, _) in enumerate(flows):
        src, dst = _of(boxes, source), _of(boxes, target)
        if src[0].y == dst[0].y:
            pair = ("bottom", "bottom")
        else:
            pair = ("bottom", "top") if dst[0].y > src[0].y else ("top", "bottom")
        ends.append(((source, pair[0]), (target, pair[1])))
        sides.setdefault((source, pair[0]), []).append((_center(dst), k))
        sides.setdefault((target, pair[1]), []).append((_center(src), k))
    anchor: dict[tuple[str, str, int], float] = {}
    for (service, side), users in sides.items():
        group = _of(boxes, service)
        left, right = group[0].x + 18, group[-1].x + BOX_W - 18
        for slot, (_, k) in enumerate(sorted(users)):
            x = left + (slot + 1) * (right - left) / (len(users) + 1)
            anchor[(service, side, k)] = _snap(x, group)
    # Labels of edges crossing the same gap between bands take turns on three heights.
    levels: dict[tuple[float, float], list[tuple[float, int]]] = {}
    geometry = []
    for k, ((source, s_side), (target, t_side)) in enumerate(ends):
        sx, tx = anchor[(source, s_side, k)], anchor[(target, t_side, k)]
        sy = _of(boxes, source)[0].y + (BOX_H if s_side == "bottom" else 0)
        ty = _of(boxes, target)[0].y + (BOX_H if t_side == "bottom" else 0)
        geometry.append((sx, sy, tx, ty))
        if sy != ty:
            levels.setdefault(_gap(boxes, bands, source, target), []).append(((sx + tx) / 2, k))
    label_y = {
        k: gap[0] + 18 + (slot % 3) * min((gap[1] - gap[0] - 36) / 2, 30)
        for gap, users in levels.items()
        for slot, (_, k) in enumerate(sorted(users))
    }
    edges = []
    for k, (source, target, port) in enumerate(flows):
        sx, sy, tx, ty = geometry[k]
        if sy == ty:  # same tier: an arc under the boxes, deeper the further apart
            depth = 30 + abs(tx - sx) / 8
            c = (sx, sy + depth, tx, ty + depth)
            label = (sx + tx) / 2, sy + depth * 0.75 + 4
        else:
            mid = (sy + ty) / 2
            c = (sx, mid, tx, mid)
            label = _point_at(sx, sy, tx, ty, label_y[k])
        path = f"M{sx:.0f},{sy} C{c[0]:.0f},{c[1]:.0f} {c[2]:.0f},{c[3]:.0f} {tx:.0f},{ty}"
        edges.append(Edge(f"{source}->{target}", source, target, port, path, *label))
    return tuple(edges)


def _gap(boxes: list[Box], bands: dict[str, Band], source: str, target: str) -> tuple[float, float]:
    """The free height between two services' bands (below the arcs of the upper one)."""
    upper, lower = sorted((_of(boxes, source)[0], _of(boxes, target)[0]), key=lambda b: b.y)
    top = bands[upper.tier].y + bands[upper.tier].height if upper.tier in bands else upper.y + BOX_H
    return top, bands[lower.tier].y if lower.tier in bands else lower.y


def _snap(x: float, group: list[Box]) -> float:
    """`x`, moved inside the nearest box of the group (not into the gap between two)."""
    box = min(group, key=lambda b: abs(b.cx - x))
    return min(max(x, box.x + 14), box.x + BOX_W - 14)


def _point_at(sx: float, sy: float, tx: float, ty: float, y: float) -> tuple[float, float]:
    """The point of the vertical S-curve from (sx, sy) to (tx, ty) at height `y`."""
    mid = (sy + ty) / 2
    lo, hi = 0.0, 1.0
    for _ in range(30):  # y(t) is monotonic on this curve: bisect
        t = (lo + hi) / 2
        if (_bezier(sy, mid, mid, ty, t) < y) == (ty > sy):
            lo = t
        else:
            hi = t
    return _bezier(sx, sx, tx, tx, lo), y + 4


def _bezier(p0: float, p1: float, p2: float, p3: float, t: float) -> float:
    u = 1 - t
    return u**3 * p0 + 3 * u * u * t * p1 + 3 * u * t * t * p2 + t**3 * p3
