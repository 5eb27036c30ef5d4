"""The labs: a fault, the symptom a user would report, graded hints, and how to undo it.

Each lab plants one fault in a running stack of its mode and wiring: netns (routed,
one host: the wiring whose routes, firewall and links the faults touch), docker
(tiered: only what shopnet owns there — our containers' veths and the stack's
secrets, never Docker's rules). `expect` names the
expectation `check` must report failing while the fault is in place, and the text
its line must contain; `fix` is the reference solution (the commands docs/labs.md
shows), `undo` what `reset` does: restore what the plan says.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from shopnet.runtime.base import Driver

NAME = re.compile(r"^[a-z][a-z0-9-]*$")
SLOW_RATE = "64kbit"
"""The slow tier's rate: the main path's p99 grows by tens of ms; everything still answers."""
SHORT_MTU = 1200


Action = Callable[[Driver], None]


@dataclass(frozen=True, slots=True)
class Lab:
    name: str
    symptom: str
    """What a user would report, in their words."""
    teaches: str
    hints: tuple[str, ...]
    """From what to look at to where exactly; never the command that fixes it."""
    expect: tuple[str, str]
    """(expectation name, text its failing line contains) while the fault is in place."""
    plant: Action
    fix: Action
    undo: Action
    mode: str = "netns"
    wiring: str = "routed"
    hosts: int = 1

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "mode": self.mode,
            "wiring": self.wiring,
            "hosts": self.hosts,
            "symptom": self.symptom,
        }


def _faults() -> ModuleType:
    """Imported on use: only netns stacks (with pyroute2) need it."""
    from shopnet.lab import netns_faults

    return netns_faults


def _plant_orders(d: Driver) -> None:
    _faults().remove_flow(d, "order -> product:3001")
    _faults().forget_connections(d, "order", "product")  # pooled connections meet the rule too


def _plant_mtu(d: Driver) -> None:
    _faults().set_offloads(d, "product-1", on=False)
    _faults().set_mtu(d, "product-1", SHORT_MTU)


def _undo_mtu(d: Driver) -> None:
    _faults().set_mtu(d, "product-1", _faults().DEFAULT_MTU)
    _faults().set_offloads(d, "product-1", on=True)


def _docker() -> ModuleType:
    """Imported on use: only docker stacks need it."""
    from shopnet.lab import docker_faults

    return docker_faults


def _shaping() -> ModuleType:
    from shopnet.lab import shaping

    return shaping


UNDERLAY_MTU = 1400
"""An underlay link 100 bytes short: full 1450-byte overlay frames no longer fit, encapsulated."""


def _plant_underlay(d: Driver) -> None:
    _faults().set_uplink_offloads(d, "gateway-1", on=False)
    _faults().set_underlay_mtu(d, "gateway-1", UNDERLAY_MTU)


def _undo_underlay(d: Driver) -> None:
    _faults().set_underlay_mtu(d, "gateway-1", _faults().DEFAULT_MTU)
    _faults().set_uplink_offloads(d, "gateway-1", on=True)


def _reload(d: Driver) -> None:
    _faults().reload_firewall(d)


LABS: tuple[Lab, ...] = (
    Lab(
        name="orders-fail",
        symptom="Placing an order fails with 504 after about two seconds; browsing products works.",
        teaches="Reading the isolation matrix against the topology's flows, and why a removed "
        "accept rule shows up only once pooled keep-alive connections are gone.",
        hints=(
            "Which hop of an order is not answered? `shopnet topology` lists the flows an "
            "order needs; `shopnet isolation` probes every one of them.",
            "The isolation matrix marks one allowed flow with `!`: look at that pair in our "
            "nftables table (`nft list table inet shopnet`).",
            "Every allowed flow has an accept rule in chain `testbed` whose comment names it. "
            "Count them against `shopnet topology`.",
        ),
        expect=("isolation", "order-1 -> product-1:3001"),
        plant=_plant_orders,
        fix=lambda d: _faults().fix_flow(d, "order", "product"),
        undo=_reload,
    ),
    Lab(
        name="database-unreachable",
        symptom="Product and order instances report the database unavailable, yet PostgreSQL "
        "is up, listening, and the firewall allows them.",
        teaches="Routing is two-way: a SYN that arrives is not a connection when the answer has "
        "no way back. An internal tier has only the routes its peers need.",
        hints=(
            "`shopnet status` says who is unhealthy; `shopnet isolation` says which connections "
            "time out. Do the SYNs arrive? (`shopnet capture database`)",
            "If the SYNs arrive and no SYN-ACK leaves, ask the receiving namespace how it would "
            "answer: `ip -n shopnet-postgres-1 route`.",
            "Compare that namespace's routes with the plan: an internal tier gets a route to "
            "each tier whose services talk to it (`shopnet topology`).",
        ),
        expect=("isolation", "product-1 -> postgres-1:5432"),
        plant=lambda d: _faults().remove_route(d, "postgres-1", "backend"),
        fix=lambda d: _faults().add_route(d, "postgres-1", "backend"),
        undo=lambda d: _faults().add_route(d, "postgres-1", "backend"),
    ),
    Lab(
        name="large-answers-hang",
        symptom="Single products load instantly, but a catalog page of 100 products never "
        "arrives (the gateway gives up with 504).",
        teaches="An MTU mismatch drops only full-size frames, silently: handshakes and small "
        "answers pass, large ones stall. Path MTU discovery cannot help on one L2 segment.",
        hints=(
            "Small answers work and large ones do not: think of packet sizes. Which instance "
            "sends the large answer?",
            "Capture the backend tier (`shopnet capture backend`) while asking for a large page: "
            "do full-size segments from product-1 reach the bridge, or only retransmissions?",
            "Compare the MTU of both ends of product-1's veth: `ip link show sn-product-1` on "
            "the host and `ip -n shopnet-product-1 link show eth0`.",
        ),
        expect=("large answer", "GET /api/products?page_size=100"),
        plant=_plant_mtu,
        fix=lambda d: _faults().set_mtu(d, "product-1", _faults().DEFAULT_MTU),
        undo=_undo_mtu,
    ),
    Lab(
        name="no-way-in",
        symptom="http://localhost:8080 refuses connections, but the gateway answers at its own "
        "address (http://172.20.0.10:3000) and every instance is healthy.",
        teaches="How the published port reaches the gateway: DNAT in nftables' nat hooks "
        "(prerouting for others, output for the host itself), not a listening socket.",
        hints=(
            "Nothing listens on port 8080 on the host, by design. What turns a connection to "
            "it into one to the gateway?",
            "Look at the nat chains of our table: `nft list table inet shopnet`.",
            "Chains `prerouting` and `output` each need one rule: local destination, TCP port "
            "8080, rewritten to the gateway's address and port.",
        ),
        expect=("main path", "connection refused"),
        plant=lambda d: _faults().remove_dnat(d),
        fix=lambda d: _faults().fix_dnat(d),
        undo=_reload,
    ),
    Lab(
        name="cache-always-misses",
        symptom="Every product read is an `X-Cache: MISS`: PostgreSQL serves them all. Redis "
        "is up and answers PING.",
        teaches="A service that degrades gracefully hides its broken dependency: the product "
        "service serves from PostgreSQL when Redis refuses its credentials.",
        hints=(
            "`shopnet status` shows which instance is only degraded; its `/ready` (and its log, "
            "`shopnet logs product-1`) says why.",
            "Redis authenticates each service as its own ACL user. Where are the users and their "
            "password hashes kept, and what does the product service present?",
            "The ACL file stores SHA-256 hashes: compare the product user's hash with the hash "
            "of the password file the product service reads; Redis reads its ACL file at start.",
        ),
        expect=("cache", "MISS"),
        plant=lambda d: _faults().break_cache_credentials(d),
        fix=lambda d: _faults().fix_cache_credentials(d),
        undo=lambda d: _faults().restore_cache_credentials(d),
    ),
    Lab(
        name="slow-database-tier",
        symptom="Everything works, but the main path's p99 jumped from a few ms to about 100 ms.",
        teaches="Queueing discipline on a link: a token bucket (tc tbf) limits a tier's "
        "bandwidth; small requests queue behind each other and the tail latency grows.",
        hints=(
            "`shopnet lab check` says how far p99 moved. Which tier does a cached product read "
            "cross besides the frontend and backend?",
            "Look at the queueing disciplines on the links of each tier: `tc qdisc show` on the "
            "host, and inside the instances' namespaces.",
            "A `tbf` root qdisc with a low rate sits on both ends of every veth of one tier.",
        ),
        expect=("p99", "> bound"),
        plant=lambda d: _faults().limit_rate(d, "database", SLOW_RATE),
        fix=lambda d: _faults().clear_rate(d, "database"),
        undo=lambda d: _faults().clear_rate(d, "database"),
    ),
    Lab(
        name="hole-in-the-firewall",
        symptom="An audit says the order service can talk to Redis, which the topology forbids; "
        "the shop itself works fine.",
        teaches="Least privilege is a property you test: the isolation matrix probes every pair "
        "that must be denied, not only the flows that must work.",
        hints=(
            "Run `shopnet isolation`: a pair that must be blocked connects.",
            "Find the rule that lets it through in chain `testbed` of `nft -a list table inet "
            "shopnet`: every rule there should match one flow of `shopnet topology`.",
            "One rule's comment does not name a topology flow. Rules are deleted by handle.",
        ),
        expect=("isolation", "order-1 -> redis-1:6379"),
        plant=lambda d: _faults().open_hole(d, "order", "redis", 6379),
        fix=lambda d: _faults().close_hole(d),
        undo=_reload,
    ),
)

HOSTS_LABS: tuple[Lab, ...] = (
    Lab(
        name="large-answers-hang-across-hosts",
        symptom="On two hosts, single products load but a catalog page of 100 products never "
        "arrives (504); the same stack on one host works.",
        teaches="VXLAN costs 50 bytes: the overlay's MTU (1450) holds only while every underlay "
        "link carries 1500. One shorter underlay link drops full encapsulated frames silently.",
        hints=(
            "Small answers work and large ones do not: think of packet sizes. On which host "
            "(`shopnet status`) does the large answer start, and which links does it cross?",
            "Capture the underlay (`shopnet capture underlay`) while asking for a large page: "
            "do full-size frames from that host's uplink reach the underlay bridge?",
            "Compare the MTU of every link an encapsulated frame crosses: `up0` inside each host "
            "namespace and its port on the real host (`ip link show master shopnet-under`).",
        ),
        expect=("large answer", "GET /api/products?page_size=100"),
        plant=_plant_underlay,
        fix=lambda d: _faults().set_underlay_mtu(d, "gateway-1", _faults().DEFAULT_MTU),
        undo=_undo_underlay,
        hosts=2,
    ),
)

DOCKER_LABS: tuple[Lab, ...] = (
    Lab(
        name="docker-cache-always-misses",
        symptom="Every product read is an `X-Cache: MISS` and the main path's p99 is up; "
        "the Redis container is up and healthy.",
        teaches="The same broken credentials in a container: the ACL file is a compose "
        "secret bind-mounted from the host, read when the container starts.",
        hints=(
            "`shopnet status` shows which instance is only degraded; `shopnet logs product-1` "
            "says why.",
            "Redis authenticates each service as its own ACL user. Which file does the Redis "
            "container read its users from (`docker inspect`, its mounts), and where is it on "
            "the host?",
            "Compare the product user's hash in that file with the SHA-256 of the password file "
            "the product container reads; Redis reads the ACL file when its container starts.",
        ),
        expect=("cache", "MISS"),
        plant=lambda d: _docker().break_cache_credentials(d),
        fix=lambda d: _docker().fix_cache_credentials(d),
        undo=lambda d: _docker().restore_cache_credentials(d),
        mode="docker",
        wiring="tiered",
    ),
    Lab(
        name="docker-slow-database-tier",
        symptom="Everything works, but the main path's p99 jumped from a few ms to about 100 ms "
        "(docker).",
        teaches="A token bucket (tc tbf) on a Docker network's veths: Docker does not name them, "
        "so you find each container's veth from its interface's peer index.",
        hints=(
            "`shopnet lab check` says how far p99 moved. Which tier does a cached product read "
            "cross besides the frontend and backend?",
            "Look at the queueing disciplines on the veths of the database network's containers, "
            "on the host (`tc qdisc show`) and inside each container's netns (`nsenter -t PID "
            "-n tc qdisc show`).",
            "A `tbf` root qdisc with a low rate sits on both ends of every veth on one tier.",
        ),
        expect=("p99", "> bound"),
        plant=lambda d: _shaping().limit_rate(d, "database", SLOW_RATE),
        fix=lambda d: _shaping().clear_rate(d, "database"),
        undo=lambda d: _shaping().clear_rate(d, "database"),
        mode="docker",
        wiring="tiered",
    ),
    Lab(
        name="docker-large-answers-hang",
        symptom="Single products load instantly, but a catalog page of 100 products never "
        "arrives (504) — on the docker stack.",
        teaches="An MTU mismatch on one container's leg: Docker's bridge drops full-size frames "
        "that a port's MTU cannot carry, silently.",
        hints=(
            "Small answers work and large ones do not: think of packet sizes. Which container "
            "sends the large answer, and on which network?",
            "Capture the backend network (`shopnet capture backend`) while asking for a large "
            "page: do full-size segments from product-1 reach the bridge?",
            "Find product-1's veth on the backend bridge (`ip link show master <bridge>`, the "
            "peer index of its eth) and compare both ends' MTU.",
        ),
        expect=("large answer", "GET /api/products?page_size=100"),
        plant=lambda d: _docker().plant_mtu(d, "product-1", "backend", SHORT_MTU),
        fix=lambda d: _docker().set_mtu(d, "product-1", "backend", _docker().DEFAULT_MTU),
        undo=lambda d: _docker().undo_mtu(d, "product-1", "backend"),
        mode="docker",
        wiring="tiered",
    ),
)

LABS = LABS + HOSTS_LABS + DOCKER_LABS
BY_NAME = {lab.name: lab for lab in LABS}
assert all(NAME.match(lab.name) for lab in LABS)
