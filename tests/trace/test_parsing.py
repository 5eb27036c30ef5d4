"""The trace's parsers and its grouping of events into packets, on lines this kernel printed."""

from __future__ import annotations

from pathlib import Path

from shopnet.trace import assemble, conntrack, drops, nfttrace
from shopnet.trace.route import Place, TraceRoute
from shopnet.trace.walk import End

SPORT = 44871
# nft monitor trace in the host's namespace for a denied SYN (shortened packet lines): the
# trace id changes between prerouting and forward, and the drop is in a jumped-to chain.
HOST_LINES = f"""\
trace id 21a64da7 inet sntest_trace pre packet: iif "stbr-frontend" ip saddr 10.213.0.10 ip daddr 10.213.2.10 ip id 1 tcp sport {SPORT} tcp dport 5432 tcp flags == syn
trace id 21a64da7 inet sntest_trace pre rule ip saddr 10.213.0.10 tcp sport {SPORT} meta nftrace set 1 (verdict continue)
trace id 21a64da7 inet sntest_trace pre policy accept
trace id 21a64da7 inet sntest prerouting packet: iif "stbr-frontend" ip saddr 10.213.0.10 ip daddr 10.213.2.10 tcp sport {SPORT} tcp dport 5432 tcp flags == syn
trace id 21a64da7 inet sntest prerouting policy accept
trace id 1d98ae69 inet sntest forward packet: iif "stbr-frontend" oif "stbr-database" ip saddr 10.213.0.10 ip daddr 10.213.2.10 tcp sport {SPORT} tcp dport 5432 tcp flags == syn
trace id 1d98ae69 inet sntest forward rule ip saddr @subnets jump testbed (verdict jump testbed)
trace id 1d98ae69 inet sntest testbed rule ct state new update @denied {{ ip saddr . ip daddr . tcp dport }} (verdict continue)
trace id 1d98ae69 inet sntest testbed rule counter packets 0 bytes 0 drop comment "anything else from or to the testbed" (verdict drop)
trace id 57fed6ea inet sntest_trace pre packet: iif "stbr-frontend" ip saddr 10.213.0.10 ip daddr 10.213.2.10 tcp sport {SPORT} tcp dport 5432 tcp flags == syn
trace id 206ccc05 inet sntest_trace out packet: oif "lo" ip saddr 127.0.0.1 ip daddr 127.0.0.1 udp sport 39612 udp dport 9
"""

TRACEFS = """\
  python-26636 [001] .....   615.454088: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=44871 dport=5432 oldstate=TCP_CLOSE newstate=TCP_SYN_SENT
  <idle>-0     [000] ..s1.   615.454301: kfree_skb: skbaddr=000000001 rx_sk=0000000000000000 protocol=2048 location=nft_do_chain+0x46f/0x690 reason: NETFILTER_DROP
  <idle>-0     [001] .Ns2.   616.460063: tcp_retransmit_skb: skbaddr=00000000f3f332ca sport=44871 dport=5432 state=TCP_SYN_SENT err=0
  <idle>-0     [000] ..s1.   616.460210: kfree_skb: skbaddr=000000002 rx_sk=0000000000000000 protocol=2048 location=nft_do_chain+0x46f/0x690 reason: NETFILTER_DROP
  <idle>-0     [000] ..s1.   618.000000: kfree_skb: skbaddr=000000003 rx_sk=0000000000000000 protocol=2048 location=tcp_v4_rcv+0xa3/0x15b0 reason: NO_SOCKET
  python-26636 [001] .....   616.957352: inet_sock_set_state: sport=44871 dport=5432 oldstate=TCP_SYN_SENT newstate=TCP_CLOSE
"""


def _route() -> TraceRoute:
    host = Place("host", None, {"stbr-frontend": "frontend bridge"})
    source = Place("gateway-1", "/run/netns/x")
    return TraceRoute(
        source="gateway-1", target="postgres-1", port=5432, source_place=source,
        source_address="10.213.0.10", connect=("10.213.2.10", 5432),
        places=(source, host), allowed=False,
        topology_word="not allowed: gateway may not reach postgres",
    )  # fmt: skip


def test_events_parse_with_verdicts_and_fields() -> None:
    events = [e for line in HOST_LINES.splitlines() if (e := nfttrace.parse(line))]
    assert len(events) == 11
    drop = events[8]
    assert (drop.chain, drop.kind, drop.verdict) == ("testbed", "rule", "drop")
    assert drop.text.endswith('comment "anything else from or to the testbed"')
    assert events[5].fields["oif"] == "stbr-database"
    assert events[0].fields["tcp flags =="] == "syn"


def test_a_packet_spans_trace_ids_and_the_drop_is_named() -> None:
    events = [e for line in HOST_LINES.splitlines() if (e := nfttrace.parse(line))]
    walk = assemble.walk(
        _route(), sport=SPORT, outcome=End.DROPPED, events={"host": events}, nat=[],
        routes={}, drops=[], sent=2, prefix="sntest",
        chains={"host": {("inet", "sntest", "prerouting"): "prerouting",
                         ("inet", "sntest", "forward"): "forward"}},
    )  # fmt: skip
    (request,) = walk.passes
    assert [h.hook for h in request.hooks] == ["prerouting", "forward"]
    assert request.hooks[1].verdict == "drop"
    assert walk.other_packets == 1  # the retransmitted SYN
    assert "at the forward hook" in walk.end_detail
    assert "in chain inet sntest testbed" in walk.end_detail
    assert walk.verdict == (
        "dropped by inet sntest testbed — not allowed: gateway may not reach postgres"
    )


def test_drops_are_matched_to_the_probe_by_its_own_transmissions() -> None:
    found = drops.parse(TRACEFS)
    sent = [float(m["ts"]) for m in drops._SENT.finditer(TRACEFS)]
    assert sent == [615.454088, 616.460063]
    matched = drops.matching(found, sent)
    assert [d.reason for d in matched] == ["NETFILTER_DROP", "NETFILTER_DROP"]


def test_conntrack_shows_the_dnat_and_the_way_back() -> None:
    line = (
        "tcp      6 119 TIME_WAIT src=192.0.2.2 dst=192.0.2.2 sport=56527 dport=8080 "
        "src=172.20.0.10 dst=192.0.2.2 sport=3000 dport=56527 [ASSURED] mark=0 use=1"
    )
    (nat,) = conntrack.parse("host", line)
    assert nat.dnat and not nat.snat and nat.state == "TIME_WAIT"
    assert "DNAT 192.0.2.2:8080 → 172.20.0.10:3000" in nat.describe()
    assert "replies 172.20.0.10:3000 → 192.0.2.2:56527" in nat.describe()


def test_the_trace_table_marks_only_the_probe_and_its_canary() -> None:
    text = nfttrace.render("shopnet", address="10.0.0.5", port=40000, canary=41000)
    assert text.startswith("table inet shopnet_trace {")
    marks = [line.strip() for line in text.splitlines() if "nftrace set 1" in line]
    assert marks == [
        "ip saddr 10.0.0.5 tcp sport 40000 meta nftrace set 1",
        "ip daddr 10.0.0.5 tcp dport 40000 meta nftrace set 1",
        "ip saddr 10.0.0.5 tcp sport 40000 meta nftrace set 1",
        "ip daddr 10.0.0.5 tcp dport 40000 meta nftrace set 1",
        "ip daddr 127.0.0.1 udp sport 41000 udp dport 9 meta nftrace set 1",
    ]


def test_local_mode_says_there_is_nothing_to_trace(tmp_path: Path) -> None:
    from tests.support.stack import shopnet

    out = shopnet(tmp_path, "trace", "--mode", "local", "gateway-1", "product-1")
    assert out.stdout.strip() == (
        "local mode: every instance is a process on 127.0.0.1; between processes on loopback "
        "there is no namespace, bridge, route or firewall to trace"
    )


def test_a_chain_passed_again_is_another_packet() -> None:
    lines = f"""\
trace id 1 inet sntest_trace pre packet: iif "br" ip saddr 10.213.0.10 tcp sport {SPORT} tcp dport 5432 tcp flags == syn
trace id 2 inet sntest forward packet: iif "br" oif "br" ip saddr 10.213.0.10 tcp sport {SPORT} tcp dport 5432 tcp flags == syn
trace id 2 inet sntest forward policy accept
trace id 3 inet sntest postrouting packet: oif "br" ip saddr 10.213.0.10 tcp sport {SPORT} tcp dport 5432 tcp flags == syn
trace id 3 inet sntest forward packet: iif "br" oif "br" ip saddr 10.213.0.10 tcp sport {SPORT} tcp dport 5432 tcp flags == ack
"""
    events = [e for line in lines.splitlines() if (e := nfttrace.parse(line))]
    chosen = assemble._first_packets(events, SPORT, "sntest")
    assert [e.chain for e in chosen["request"] if e.kind == "packet"] == [
        "pre", "forward", "postrouting",
    ]  # fmt: skip
    assert chosen["other"][0].text == "1"
