"""A Walk as text (the terminal), JSON (scripts) and Markdown (docs/packet-walk.md)."""

from __future__ import annotations

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


def markdown(pairs: list[tuple[str, Walk, Walk]]) -> str:
    """The teaching page: per mode, one allowed request and one denied attempt side by side."""
    lines = [
        "# A packet's walk, in every mode",
        "",
        "Written by `shopnet trace --markdown` from real traces on running stacks (regenerate",
        "it the same way; see `shopnet trace --help`). Each mode shows one allowed request",
        "from outside (a client of the host's published port) to a product instance and one",
        "denied attempt, traced with nftables tracing in every namespace on the path",
        "(`meta nftrace set 1` for the probe's flow only), conntrack for the NAT and the",
        "kernel's `skb:kfree_skb` drop reasons.",
        "",
        "Where the modes take the same kernel path: the host's published port is a DNAT in",
        "the host's own namespace (output hook for the host's own client), and every hop",
        "between namespaces is a veth into a Linux bridge. Where they differ: netns routes",
        "between tiers on the host and denies by the flow in one table of ours (`inet",
        "shopnet`, chain `testbed`); Docker puts a container on every network it talks to",
        "and denies only between networks (iptables-nft chains DOCKER-ISOLATION-STAGE-1/2,",
        "DOCKER-USER before them).",
        "",
    ]
    for mode, allowed, denied in pairs:
        lines += [f"## {mode}", "", "| allowed | denied |", "|---|---|"]
        left = text(allowed).rstrip("\n").splitlines()
        right = text(denied).rstrip("\n").splitlines()
        for a, b in zip(
            left + [""] * (len(right) - len(left)),
            right + [""] * (len(left) - len(right)),
            strict=True,
        ):
            lines.append(f"| {_cell(a)} | {_cell(b)} |")
        lines.append("")
    return "\n".join(lines)


def _cell(text: str) -> str:
    if not text:
        return ""
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`"
