"""A Walk as text (the terminal), JSON (scripts) and Markdown (docs/packet-walk.md)."""

from __future__ import annotations

import html
import json

from shopnet.trace.walk import Pass, Walk


def _pass_lines(item: Pass) -> list[str]:
    arrow = "→" if item.direction == "request" else "←"
    lines = [f"{arrow} [{item.place}] {item.direction} {item.packet}"]
    lines += [f"    {text}" for text in item.interfaces]
    if item.route:
        lines.append(f"    route: {item.route}")
    for hook in item.hooks:
        lines.append(f"    {hook.hook:<11} {hook.chain}: {hook.verdict}")
        for rule in hook.rules:
            lines.append(f"      {rule.chain}: {rule.rule}  ⇒ {rule.verdict}")
    return lines


def text(walk: Walk) -> str:
    lines = [
        f"# trace {walk.source} → {walk.target}:{walk.port} ({walk.mode})",
        f"probe {walk.probe} → {walk.connect}",
    ]
    for item in walk.passes:
        lines += _pass_lines(item)
    lines += [f"  {note}" for note in walk.notes]
    if walk.other_packets:
        lines.append(
            f"  (+{walk.other_packets} more packets of the flow traced: retransmissions, ACKs, FINs)"
        )
    lines += [f"nat: {entry}" for entry in walk.nat]
    lines += [f"drop: {entry}" for entry in walk.drops]
    lines += [f"end: {walk.end_detail}", walk.verdict]
    return "\n".join(lines) + "\n"


def as_json(walk: Walk) -> str:
    return json.dumps(walk.as_dict(), indent=2, ensure_ascii=False) + "\n"


INTRO = """# A packet's walk, in every mode

Written by `shopnet trace --markdown` from real traces on running stacks: run it once
per mode (it replaces that mode's section and keeps the others). Each section shows,
side by side, an allowed request — from outside (a client of the host's published
port) to the gateway, and the gateway's own connection on to a product instance — and
a denied attempt, the gateway trying PostgreSQL. Every trace is one probe connection
followed with nftables tracing in each namespace on its path (`meta nftrace set 1` for
the probe's flow only), conntrack for the NAT and the kernel's `skb:kfree_skb` drop
reasons.

Where the modes take the same kernel path: the published port is a DNAT in the
host's own namespace (the output hook, for a client on the host), every hop between
namespaces is a veth into a Linux bridge, and the answer is un-NATed by conntrack on
the way back. Where they differ: netns routes between tiers on the host and denies by
the flow, in one table of ours (`inet <prefix>`, chain `testbed`, forward hook);
Docker attaches a container to every network it talks to and denies only between
networks (iptables-nft: `ip filter FORWARD` → DOCKER-USER → DOCKER-ISOLATION-STAGE-1/2),
so within a network everything connects. With several hosts the same rules run in
every simulated host, and the hop between hosts is VXLAN.

How to read a walk: `→` lines are the request, `←` the answer, each in the namespace
in brackets, with the interfaces it came in and went out by, the route that namespace
used (`ip route get`), and every base chain (hook) that saw it with the rules that
matched and the verdict. The trace mark does not cross a veth, so every namespace on
the path had a temporary table of its own (`inet <prefix>_trace`, priority -350) that
marked only the probe's address and source port. `nat:` is conntrack's entry
(original tuple, reply tuple). A `drop:` line is the kernel's `kfree_skb` reason; that
event carries no addresses, so it is matched by time: within 50 ms after one of the
SYNs tracefs itself saw leave from the probe's source port. The last line is the end
and the topology's word for the flow.
"""


def section(title: str, allowed: list[Walk], denied: Walk) -> str:
    """One mode's section: the allowed walks on the left, the denied one on the right."""
    left = "\n".join(text(w) for w in allowed)
    return "\n".join(
        [
            f"## {title}",
            "",
            "<table><tr><th>allowed</th><th>not allowed by the topology</th></tr><tr>",
            f'<td valign="top"><pre>{html.escape(left)}</pre></td>',
            f'<td valign="top"><pre>{html.escape(text(denied))}</pre></td>',
            "</tr></table>",
            "",
        ]
    )


def merge(existing: str, title: str, new_section: str) -> str:
    """The page with `title`'s section replaced (or added), every other section kept."""
    sections: dict[str, str] = {}
    for chunk in existing.split("\n## ")[1:]:
        name = chunk.split("\n", 1)[0].strip()
        sections[name] = "## " + chunk.rstrip("\n") + "\n"
    sections[title] = new_section
    return INTRO + "\n" + "\n".join(sections[name] for name in sorted(sections))
