"""Reading our firewall's counters, and per-flow rates from two scrapes of /metrics."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess

import aiohttp
import pytest

from shopnet.dashboard import nftcounters, traffic
from shopnet.dashboard.metrics import Scrape, parse, scrape
from shopnet.topology import default_topology
from shopnet_netns import firewall
from shopnet_netns.plan import NetworkPlan


def test_parse_reads_flow_rules_and_denied_pairs() -> None:
    document = {
        "nftables": [
            {
                "rule": {
                    "comment": "gateway -> product:3001",
                    "expr": [{"counter": {"packets": 7, "bytes": 420}}, {"accept": None}],
                }
            },
            {"rule": {"comment": "anything else", "expr": [{"counter": {"packets": 3}}]}},
            {  # counted where it came from (netns --hosts N)
                "rule": {
                    "comment": "gateway -> product:3001 (from another host)",
                    "expr": [{"counter": {"packets": 5, "bytes": 300}}, {"accept": None}],
                }
            },
            {
                "set": {
                    "name": "denied",
                    "elem": [
                        {
                            "elem": {
                                "val": {"concat": ["172.20.0.10", "172.22.0.10", 5432]},
                                "counter": {"packets": 2, "bytes": 120},
                            }
                        }
                    ],
                }
            },
        ]
    }
    counters = nftcounters.parse(document)
    assert counters.connections == {"gateway->product": 7}
    assert counters.denied == (nftcounters.Denied("172.20.0.10", "172.22.0.10", 5432, 2),)


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft"), reason="needs root and nft")
def test_rendered_firewall_counts_every_flow_and_has_the_denied_set() -> None:
    # Loaded into a private network namespace of this test's own: the host's tables stay untouched.
    plan = NetworkPlan.from_topology(default_topology(), {"product": 2})
    table = plan.names.nft_table
    out = subprocess.run(
        ["unshare", "--net", "sh", "-c", f"nft -f - && nft -j list table inet {table}"],
        input=firewall.render(plan),
        capture_output=True,
        text=True,
        check=True,
    )
    counters = nftcounters.parse(json.loads(out.stdout))
    flows = {f"{f.source}->{f.target}" for f in default_topology().flows}
    assert counters.connections == dict.fromkeys(flows, 0)
    assert counters.denied == ()
    assert f'"name": "{nftcounters.DENIED_SET}"' in json.dumps(json.loads(out.stdout))


def exposition(requests: dict[tuple[str, str], int], cache: int = 0) -> str:
    lines = []
    for (route, method), count in requests.items():
        labels = f'method="{method}",route="{route}",status="200"'
        lines.append(f"shopnet_http_requests_total{{{labels}}} {count}")
        lines.append(
            f'shopnet_http_request_duration_seconds_sum{{route="{route}"}} {count * 0.002}'
        )
        lines.append(f'shopnet_http_request_duration_seconds_count{{route="{route}"}} {count}')
    lines.append(f'shopnet_cache_requests_total{{result="hit"}} {cache}')
    return "\n".join(lines) + "\n"


def test_flows_are_attributed_from_the_serving_side() -> None:
    before: dict[str, list[Scrape | None]] = {
        "gateway": [parse(exposition({("/api/products/{id}", "GET"): 100}))],
        "product": [parse(exposition({("/products/{id}", "GET"): 100, ("/products", "GET"): 10}))],
        "order": [parse(exposition({("/orders", "POST"): 4}))],
        "registry": [parse(exposition({("/v1/instances/{id}/heartbeat", "PUT"): 10}))],
    }
    after: dict[str, list[Scrape | None]] = {
        "gateway": [parse(exposition({("/api/products/{id}", "GET"): 120}))],
        "product": [
            parse(exposition({("/products/{id}", "GET"): 118, ("/products", "GET"): 14}, 18))
        ],
        "order": [parse(exposition({("/orders", "POST"): 8, ("/metrics", "GET"): 50}))],
        "registry": [parse(exposition({("/v1/instances/{id}/heartbeat", "PUT"): 14}))],
    }
    flows = traffic.flows(
        default_topology(),
        traffic.Interval(before, after, seconds=2.0),
        {"gateway": 1, "product": 1, "order": 1, "registry": 1},
    )
    assert flows["world->gateway"].rate == 10.0
    assert flows["order->product"].rate == 2.0  # one price lookup per order
    assert flows["gateway->product"].rate == 9.0  # 22 served in 2 s, less the 4 lookups
    assert flows["gateway->order"].rate == 2.0  # /metrics scrapes are not traffic
    assert flows["gateway->product"].latency_ms == pytest.approx(2.0)
    assert flows["product->registry"].rate == pytest.approx(2 / 3)  # heartbeats, shared by three
    assert flows["product->redis"].rate == 9.0


def test_an_instance_without_a_baseline_adds_no_spike() -> None:
    # Its previous scrape failed (timed out, or it was down): its lifetime count is not a rate.
    after: dict[str, list[Scrape | None]] = {
        "gateway": [parse(exposition({("/api/products/{id}", "GET"): 5000}))]
    }
    flows = traffic.flows(
        default_topology(), traffic.Interval({"gateway": [None]}, after, 1.0), {"gateway": 1}
    )
    assert flows["world->gateway"].rate == 0.0


async def test_a_scrape_tells_refused_from_slow() -> None:
    with socket.socket() as s:  # a port nothing listens on any more
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    async with aiohttp.ClientSession() as session:
        result = await scrape(session, f"127.0.0.1:{closed}", timeout=1.0)
    assert result.samples is None and result.refused
