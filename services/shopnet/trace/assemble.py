"""From raw trace events, conntrack entries and kernel drops to a Walk."""

from __future__ import annotations

import re

from shopnet.trace import conntrack, nfttrace
from shopnet.trace.drops import MATCH_WINDOW, Drop
from shopnet.trace.nfttrace import Event
from shopnet.trace.nsenter import route_get
from shopnet.trace.route import Place, TraceRoute
from shopnet.trace.walk import End, Hook, Pass, RuleHit, Walk

Events = dict[str, list[Event]]
_PASSING = {"continue", "return"}
_COUNTER = re.compile(r"counter packets \d+ bytes \d+ ")


def _direction(packet: Event, sport: int) -> str | None:
    if packet.fields.get("tcp sport") == str(sport):
        return "request"
    if packet.fields.get("tcp dport") == str(sport):
        return "reply"
    return None


def _first_packets(events: list[Event], sport: int, prefix: str) -> dict[str, list[Event]]:
    """The events of the first request and the first reply packet in one namespace, and how
    many more packets of the flow were seen there (under "other").

    A packet changes trace id between hooks (prerouting and forward, say), so ids do not
    say which events are one packet: every packet entering or leaving a namespace passes
    our table first, so a packet line of our table starts a packet, and the hooks after
    it (forward, input, postrouting) belong to that packet."""
    ours = nfttrace.table_name(prefix)
    packets: list[tuple[str | None, list[Event]]] = []
    # In arrival order, not by trace id: the kernel reuses an id when it reuses the skb, so
    # one id can hold the SYN's forward pass and a later ACK's.
    for event in events:
        if event.kind == "packet":
            # A chain the current packet already passed means another packet (a bridged
            # one can miss our prerouting chain: br_netfilter skips it for some).
            current = packets[-1][1] if packets else []
            seen = {(e.table, e.chain) for e in current if e.kind == "packet"}
            if event.table == ours or not packets or (event.table, event.chain) in seen:
                packets.append((_direction(event, sport), [event]))
                continue
        if packets:
            packets[-1][1].append(event)
    chosen: dict[str, list[Event]] = {}
    other = 0
    for direction, group in packets:
        if direction is None:
            continue  # the canary
        if direction not in chosen:
            chosen[direction] = group
        else:
            other += 1
    chosen["other"] = [Event("", "", "", "", "count", str(other))]
    return chosen


def _flags(value: str) -> str:
    return {"0x14": "rst, ack", "0x12": "syn, ack", "0x11": "fin, ack", "0x10": "ack"}.get(
        value, value.replace(" | ", ", ")
    )


def _hooks(group: list[Event], prefix: str, chains: dict[tuple[str, str, str], str]) -> list[Hook]:
    ours = nfttrace.table_name(prefix)
    hooks: list[Hook] = []
    current: list[Event] = []

    def close() -> None:
        if not current or current[0].table == ours:
            return
        head = current[0]
        rules = tuple(
            RuleHit(f"{e.family} {e.table} {e.chain}", _COUNTER.sub("counter ", e.text), e.verdict)
            for e in current
            if e.kind == "rule"
        )
        verdict = "accept"
        for e in current:
            if e.kind in ("verdict", "policy") or (e.kind == "rule" and e.verdict):
                word = e.verdict.split()[0] if e.verdict else ""
                if word and word not in _PASSING and word not in ("jump", "goto"):
                    verdict = e.verdict if e.kind != "policy" else f"policy {e.verdict}"
        hook = chains.get((head.family, head.table, head.chain), "?")
        hooks.append(Hook(hook, f"{head.family} {head.table} {head.chain}", rules, verdict))

    for event in group:
        if event.kind == "packet" and (
            not current or (event.table, event.chain) != (current[0].table, current[0].chain)
        ):
            close()
            current = [event]
        elif current:
            current.append(event)
    close()
    return hooks


def _describe_packet(packets: list[Event]) -> str:
    first, last = packets[0].fields, packets[-1].fields
    text = (
        f"{first.get('ip saddr', '?')}:{first.get('tcp sport', '?')} → "
        f"{first.get('ip daddr', '?')}:{first.get('tcp dport', '?')}"
    )
    if (last.get("ip daddr"), last.get("tcp dport")) != (
        first.get("ip daddr"),
        first.get("tcp dport"),
    ):
        text += f" (→ {last.get('ip daddr')}:{last.get('tcp dport')} after NAT)"
    if (last.get("ip saddr"), last.get("tcp sport")) != (
        first.get("ip saddr"),
        first.get("tcp sport"),
    ):
        text += f" (from {last.get('ip saddr')}:{last.get('tcp sport')} after NAT)"
    return f"{text} [{_flags(first.get('tcp flags ==', '?'))}]"


def _interfaces(packets: list[Event], place: Place) -> tuple[str, ...]:
    seen: list[str] = []
    for packet in packets:
        for key, word in (("iif", "in"), ("oif", "out")):
            name = packet.fields.get(key)
            if name:
                what = place.interfaces.get(name)
                entry = f"{word} {name}" + (f" ({what})" if what else "")
                if entry not in seen:
                    seen.append(entry)
    return tuple(seen)


def routes(route: TraceRoute, events: Events, sport: int, prefix: str) -> dict[str, str]:
    """`ip route get` in each place that routed the probe's request (not where it was bridged)."""
    found: dict[str, str] = {}
    for place in route.places:
        group = _first_packets(events.get(place.label, []), sport, prefix).get("request")
        if not group:
            continue
        packets = [e for e in group if e.kind == "packet"]
        iif = packets[0].fields.get("iif")
        destination = packets[-1].fields.get("ip daddr")
        oif = next((e.fields["oif"] for e in reversed(packets) if "oif" in e.fields), None)
        bridged = "port of" in place.interfaces.get(iif or "", "") or (iif and iif == oif)
        if destination is None or bridged:
            continue  # bridged (in and out of one bridge): no routing decision to show
        if iif is None:
            text = route_get(place, destination, None, None)
        else:
            text = route_get(place, destination, route.source_address, iif)
        if text:
            found[place.label] = text
    return found


def conntrack_of(route: TraceRoute, sport: int) -> list[str]:
    entries = [n for p in route.places for n in conntrack.entries(p.label, p.netns, sport)]
    translated = [n.describe() for n in entries if n.dnat or n.snat]
    if translated:
        return translated
    if entries:
        where = ", ".join(dict.fromkeys(n.place for n in entries))
        return [f"no NAT: conntrack in {where} holds the connection untranslated"]
    return [
        "conntrack holds no entry for it (a connection dropped on the way is never confirmed; "
        "a refused one is removed at the RST)"
    ]


def walk(
    route: TraceRoute,
    *,
    sport: int,
    outcome: End,
    events: Events,
    nat: list[str],
    routes: dict[str, str],
    drops: list[Drop],
    sent: int,
    prefix: str = "",
    chains: dict[str, dict[tuple[str, str, str], str]] | None = None,
) -> Walk:
    chains = chains or {}
    requests: list[Pass] = []
    replies: list[Pass] = []
    other = 0
    for place in route.places:
        chosen = _first_packets(events.get(place.label, []), sport, prefix)
        other += int(chosen.pop("other")[0].text)
        for direction, group in chosen.items():
            packets = [e for e in group if e.kind == "packet"]
            hooks = tuple(_hooks(group, prefix, chains.get(place.label, {})))
            item = Pass(
                place=place.label,
                direction=direction,
                packet=_describe_packet(packets),
                interfaces=_interfaces(packets, place),
                hooks=hooks,
                route=routes.get(place.label) if direction == "request" else None,
            )
            (requests if direction == "request" else replies).append(item)
    replies.reverse()
    end_detail = _end_detail(route, outcome, requests, replies, drops)
    counted: dict[tuple[str, str], int] = {}
    for d in drops:
        counted[(d.reason, d.location)] = counted.get((d.reason, d.location), 0) + 1
    drop_lines = tuple(
        f"kfree_skb reason {reason} at {location} ×{n}: each within "
        f"{MATCH_WINDOW * 1000:.0f} ms after one of the probe's {sent} SYN transmissions "
        "(kfree_skb carries no addresses: matched by time, on tracefs' clock, to the SYNs "
        "tracefs saw leave from the probe's source port)"
        for (reason, location), n in counted.items()
    )
    verdict = f"{_end_word(outcome, requests)} — {route.topology_word}"
    if (outcome is End.DELIVERED) != route.allowed and outcome is not End.REFUSED:
        verdict += " (UNEXPECTED: the network disagrees with the topology)"
    return Walk(
        source=route.source, target=route.target, port=route.port, mode=route.mode,
        connect=f"{route.connect[0]}:{route.connect[1]}",
        probe=f"{route.source_address}:{sport}", passes=(*requests, *replies),
        nat=tuple(nat), end=outcome, end_detail=end_detail, drops=drop_lines,
        notes=route.notes, verdict=verdict, allowed=route.allowed, other_packets=other,
    )  # fmt: skip


def dropping_rule(passes: list[Pass]) -> tuple[Pass, Hook, RuleHit | None] | None:
    for item in passes:
        for hook in item.hooks:
            if hook.verdict.split()[-1] == "drop":
                rule = next((r for r in reversed(hook.rules) if r.verdict == "drop"), None)
                return item, hook, rule
    return None


def _end_word(outcome: End, requests: list[Pass]) -> str:
    if outcome is End.DROPPED and (found := dropping_rule(requests)):
        _, hook, rule = found
        return f"dropped by {rule.chain if rule else hook.chain}"
    if outcome is End.REFUSED:
        return "refused (RST)"
    return str(outcome)


def _end_detail(
    route: TraceRoute, outcome: End, requests: list[Pass], replies: list[Pass], drops: list[Drop]
) -> str:
    target = f"{route.target} ({route.connect[0]}:{route.connect[1]})"
    if outcome is End.DELIVERED:
        return f"delivered: a listening socket in {route.target} accepted it (SYN, SYN-ACK, ACK)"
    if outcome is End.REFUSED:
        rst = next((r for r in replies if "rst" in r.packet), None)
        where = f", seen in {rst.place}" if rst else ""
        return f"refused: {target} answered RST{where}; nothing listens on port {route.port}"
    if outcome is End.NO_ROUTE:
        return f"no route: connect() failed in {route.source}; nothing was sent"
    found = dropping_rule(requests)
    if found is not None:
        item, hook, rule = found
        what = (
            f"rule `{rule.rule}` in chain {rule.chain}" if rule else f"the policy of {hook.chain}"
        )
        return f"dropped in {item.place} at the {hook.hook} hook by {what}"
    if drops:
        return f"dropped by the kernel: {drops[0].reason} at {drops[0].location}"
    return "dropped: no answer, and no rule or kernel drop seen for it"
