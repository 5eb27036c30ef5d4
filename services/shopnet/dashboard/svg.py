"""The layout drawn as SVG: the file `shopnet topology --svg` writes and the page's picture.

Every element the page updates carries an id (`node-<instance>`, `stats-<instance>`,
`edge-<source>-<target>`, `elabel-…`), so the page restyles this very drawing
instead of drawing its own. The style sheet is inside the SVG: the file looks the
same in a browser, in the README and in the dashboard.
"""

from __future__ import annotations

from html import escape

from shopnet.dashboard.layout import BOX_H, BOX_W, Edge, Layout, Placed, compute
from shopnet.topology.model import WORLD, Topology

STYLE = """
.band{fill:#f4f6fa;stroke:#c9d1de;stroke-width:1}
.band.internal{fill:#f7f3fa;stroke:#d5c8e0;stroke-dasharray:5 3}
.tier{font:600 14px sans-serif;fill:#33415c}
.segment{font:12px monospace;fill:#5c6b84}
.box{fill:#fff;stroke:#8a99b3;stroke-width:1.2}
.node.datastore .box{fill:#fbfaf4}
.node.world .box{fill:#eef3ff;stroke-dasharray:4 3}
.name{font:600 13px sans-serif;fill:#1d2a44}
.addr{font:11px monospace;fill:#4a5873}
.stats{font:10.5px sans-serif;fill:#5c6b84}
.dot{fill:#b8c0cc}
.health-ready .dot{fill:#23a559}
.health-degraded .dot{fill:#e0a100}
.health-down .dot,.health-unavailable .dot{fill:#d93036}
.health-down .box,.health-unavailable .box{stroke:#d93036;stroke-width:2.5;fill:#fff1f1}
.health-degraded .box{stroke:#e0a100;stroke-width:2}
.edge{fill:none;stroke:#7d8aa3;stroke-width:1.6;marker-end:url(#arrow)}
.edge.active{stroke:#2f6fde;stroke-width:2.6}
.elabel{font:11px sans-serif;fill:#33415c;paint-order:stroke;stroke:#fff;stroke-width:4px;stroke-linejoin:round}
.elabel.active{fill:#1f4fae;font-weight:600}
.elabel2{font-size:10px;fill:#5c6b84}
.denied-mark line{stroke:#d93036;stroke-width:2;stroke-dasharray:6 4}
.denied-mark text{font:600 11px sans-serif;fill:#d93036;paint-order:stroke;stroke:#fff;stroke-width:4px}
.denied-mark circle{fill:#d93036}
.legend{font:11px sans-serif;fill:#5c6b84}
"""


def edge_id(edge_key: str) -> str:
    """`gateway->product` → `gateway-product` (a valid, readable element id)."""
    return edge_key.replace("->", "-")


def render(layout: Layout, *, title: str = "shopnet topology") -> str:
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {layout.width} {layout.height}" '
        f'width="{layout.width}" height="{layout.height}" font-family="sans-serif" '
        f'role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f"<style>{STYLE}</style>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#7d8aa3"/></marker></defs>',
        f'<rect width="{layout.width}" height="{layout.height}" fill="#fff"/>',
    ]
    for band in layout.bands:
        cls = "band internal" if band.internal else "band"
        out.append(
            f'<g id="tier-{band.tier}"><rect class="{cls}" x="8" y="{band.y}" '
            f'width="{layout.width - 16}" height="{band.height}" rx="10"/>'
            f'<text class="tier" x="22" y="{band.y + 21}">{escape(band.tier)}</text>'
            f'<text class="segment" x="{layout.width - 22}" y="{band.y + 21}" text-anchor="end">'
            f"{escape(band.title)}{' · internal' if band.internal else ''}</text></g>"
        )
    out.append('<g id="edges">')
    for edge in layout.edges:
        out.append(_edge(edge))
    out.append("</g>")
    out.append('<g id="nodes">')
    for box in layout.boxes:
        kind = " world" if box.name == WORLD else " datastore" if box.datastore else ""
        title = "anyone outside" if box.name == WORLD else box.name
        out.append(
            f'<g id="node-{box.name}" class="node health-unknown{kind}" '
            f'transform="translate({box.x},{box.y})">'
            f'<rect class="box" width="{BOX_W}" height="{BOX_H}" rx="7"/>'
            f'<circle class="dot" cx="{BOX_W - 13}" cy="13" r="5"/>'
            f'<text class="name" x="10" y="18">{escape(title)}</text>'
            f'<text class="addr" x="10" y="35">{escape(box.address)}</text>'
            f'<text class="stats" id="stats-{box.name}" x="10" y="52"></text></g>'
        )
    out.append("</g>")
    out.append('<g id="denied-marks"></g>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _edge(edge: Edge) -> str:
    ident = edge_id(edge.id)
    return (
        f'<path class="edge" id="edge-{ident}" d="{edge.path}">'
        f"<title>{escape(edge.source)} → {escape(edge.target)}:{edge.port}</title></path>"
        f'<text class="elabel" id="elabel-{ident}" x="{edge.label_x:.0f}" y="{edge.label_y:.0f}" '
        f'text-anchor="middle">:{edge.port}</text>'
        f'<text class="elabel elabel2" id="elabel2-{ident}" x="{edge.label_x:.0f}" '
        f'y="{edge.label_y + 13:.0f}" text-anchor="middle"></text>'
    )


def topology_svg(topology: Topology, scale: dict[str, int]) -> str:
    """The static picture of the planned stack (`shopnet topology --svg`, the README's)."""
    placed = [Placed(i.name, i.service.name, f"{i.address}:{i.port}") for i in topology.plan(scale)]
    return render(
        compute(topology, placed), title="shopnet topology: tiers, instances, allowed flows"
    )
