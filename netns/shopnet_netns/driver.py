"""netns mode: every instance in its own network namespace, the host routing between tiers.

The driver is the seam between the shared runtime (which starts processes in
dependency order and waits for them) and this package's network layer (which
builds bridges, namespaces, veths and the firewall from the topology). Each
instance listens on 0.0.0.0 inside its namespace; the host reaches it at its
tier address, and users at http://localhost:8080 through DNAT.

With `--hosts N` (the variant's `hosts`) the same plan spreads the instances over
N simulated hosts joined by VXLAN (hostplan.py, overlay.py); the underlay's
subnet is chosen at `up` (the first free /24) and kept in the state.
"""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Callable
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

from shopnet.errors import ConfigError
from shopnet.hostnet import capture as captures
from shopnet.hostnet.ratelimit import Rate
from shopnet.runtime.base import EntryPoint, InstanceStatus
from shopnet.runtime.hosted import HostedDriver
from shopnet.runtime.launch import Placement
from shopnet.runtime.state import InstanceRecord, StackState
from shopnet.trace.route import Place, TraceRoute
from shopnet_netns import cgroups, hostplan, isolation, namespaces, netem, preflight, tracepath
from shopnet_netns.build import build
from shopnet_netns.inventory import discover, teardown
from shopnet_netns.names import Names
from shopnet_netns.plan import NetworkPlan
from shopnet_netns.spawning import enter_instance

UNDERLAY = "underlay"
"""`shopnet capture underlay`: the hosts' shared segment (several hosts only)."""
LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp
PEER_PORT = 3080
"""The bench's nginx peer: in the gateway's namespace, beside its port."""


class NetnsDriver(HostedDriver):
    mode = "netns"
    has_network = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._underlay_subnet: IPv4Network | None = None
        """Chosen once per driver: `up` plans several times before the state records it."""

    @property
    def names(self) -> Names:
        return Names(self.topology.prefix)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.topology.published_port}"

    def plan(self, scale: dict[str, int]) -> NetworkPlan:
        hosts = self.variant.hosts
        return NetworkPlan.from_topology(
            self.topology,
            scale,
            wiring=self.wiring,
            hosts=hosts,
            underlay=self._underlay(scale) if hosts > 1 else None,
        )

    def _underlay(self, scale: dict[str, int]) -> IPv4Network:
        """The running stack's underlay subnet, else the first free one (kept for `up`)."""
        chosen = self._underlay_subnet
        if chosen is None:
            state = self.state_or_none()
            recorded = state.extra.get("underlay") if state is not None else None
            if recorded:
                chosen = IPv4Network(recorded)
            else:
                single = NetworkPlan.from_topology(self.topology, scale)
                chosen = hostplan.choose_underlay(preflight.taken_networks(single))
            self._underlay_subnet = chosen
        return chosen

    def _state_plan(self) -> NetworkPlan:
        return self.plan(self.require_state().scale)

    def network_plan(self) -> NetworkPlan:
        """The running stack's network plan (what `shopnet lab` plants its faults in)."""
        return self._state_plan()

    # -- up -------------------------------------------------------------------

    def placements(self, scale: dict[str, int]) -> list[Placement]:
        registry_tier = self.topology.service_tier("registry").name
        return [
            Placement(
                endpoint.instance,
                bind="0.0.0.0",
                address=str(endpoint.address.ip),
                port=endpoint.instance.port,
                namespace=endpoint.namespace,
                # Attached: it reaches the registry from its leg there, so it registers so.
                advertise=str(endpoint.address_on(registry_tier)),
            )
            for endpoint in self.plan(scale).endpoints
        ]

    def check_placements(self, scale: dict[str, int], placements: list[Placement]) -> None:
        preflight.check(self.plan(scale))

    def build_network(self, state: StackState, placements: list[Placement]) -> None:
        plan = self.plan(state.scale)
        if plan.underlay is not None:
            state.extra["underlay"] = str(plan.underlay.subnet)
        report = build(plan)
        state.extra["iptables_accepts"] = list(report.iptables_chains)
        gateway = next(p for p in placements if p.instance.service.name == "gateway")
        self.notes.append(f"the gateway also answers at http://{gateway.endpoint} (no DNAT)")

    def enter_placement(self, placement: Placement) -> Callable[[], None] | None:
        assert placement.namespace is not None
        limits = cgroups.apply(self.names, placement.name, placement.instance.service)
        for problem in limits.problems:
            note = f"{placement.name}: {problem}"
            if note not in self.notes:
                self.progress.warn(note)
                self.notes.append(note)
        return enter_instance(placement.namespace, limits)

    # -- down -----------------------------------------------------------------

    def present(self) -> bool:
        return super().present() or not discover(self.names).empty

    def teardown_network(self, state: StackState | None) -> tuple[list[str], list[str]]:
        # Works from names alone: a crash before the state file was written still converges.
        report = teardown(self.names)
        return list(report.removed), list(report.problems)

    # -- the other verbs ------------------------------------------------------

    def enter_for(self, record: InstanceRecord) -> Callable[[], None] | None:
        if record.namespace is None:
            raise ConfigError(f"{record.name} has no namespace")
        return enter_instance(record.namespace)

    def enter_for_restart(self, record: InstanceRecord) -> Callable[[], None] | None:
        if record.namespace is None:
            raise ConfigError(f"{record.name} has no namespace")
        limits = cgroups.apply(self.names, record.name, self.topology.service(record.service))
        return enter_instance(record.namespace, limits)

    def oom_kills(self, record: InstanceRecord) -> int | None:
        return cgroups.oom_kills(self.names, record.name)

    def exec(self, instance: str, argv: list[str]) -> int:
        record = self.require_state().instance(instance)
        enter = self.enter_for(record)
        try:
            return subprocess.run(argv, preexec_fn=enter, check=False).returncode
        except FileNotFoundError:
            raise ConfigError(f"{argv[0]}: command not found") from None

    def exec_note(self, instance: str, argv: list[str]) -> str:
        return (
            f"as root (uid 0) in {instance}'s network namespace, with the host's filesystem "
            "and tools (the service itself runs as its own user)"
        )

    def status(self, *, usage: bool = True) -> list[InstanceStatus]:
        rows = super().status(usage=usage)
        if self.variant.hosts == 1:
            return rows
        hosts = {e.name: e.host or "" for e in self._state_plan().endpoints}
        return [dataclasses.replace(r, host=hosts.get(r.instance, "")) for r in rows]

    def listening(self, instance: str, pid: int | None) -> tuple[str, ...]:
        """Listening TCP sockets in the instance's namespace (its /proc/PID/net/tcp view)."""
        if pid is None:
            return ()
        try:
            lines = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
        except OSError:
            return ()
        found = []
        for line in lines:
            fields = line.split()
            if fields[3] != LISTEN:
                continue
            address, port = fields[1].split(":")
            octets = [str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)]
            found.append(f"{'.'.join(octets)}:{int(port, 16)}")
        return tuple(sorted(set(found)))

    def entry_points(self, rows: list[InstanceStatus]) -> list[EntryPoint]:
        """Through the DNAT on the published port, and straight to the gateway's namespace."""
        points = [EntryPoint("gateway", self.gateway_url, main=True)]
        gateway = next((r for r in rows if r.instance == "gateway-1"), None)
        if gateway is not None:
            points.append(EntryPoint("gateway-direct", f"http://{gateway.address}"))
        return points

    def peer_port(self) -> int | None:
        return PEER_PORT

    def tier_segments(self) -> dict[str, str]:
        return {t.name: f"{t.bridge} · {t.subnet}" for t in self.topology.tiers}

    def firewall_table(self) -> str:
        return self.topology.prefix

    def isolation(self) -> tuple[str, bool]:
        # On a running stack only the services listen, so each target's own port is probed.
        results = isolation.run(isolation.probes(self._state_plan(), every_port=False))
        return isolation.format_matrix(results), all(r.ok for r in results)

    def trace_route(self, source: str, target: str, port: int | None) -> TraceRoute:
        return tracepath.route(self._state_plan(), source, target, port, self.describe_variant())

    def trace_prefix(self) -> str:
        return self.names.prefix

    def trace_places(self) -> list[Place]:
        listed = [Place(n, str(namespaces.path(n))) for n in namespaces.listed(self.names.prefix)]
        return [Place("host", None), *(p for p in listed if namespaces.exists(p.label))]

    def capture(self, tier: str, *, count: int | None, seconds: float | None, output: Path) -> str:
        plan = self._state_plan()
        if plan.underlay is not None:
            if tier != UNDERLAY:
                raise ConfigError(
                    f"with {len(plan.hosts)} hosts a tier spans several namespaces: capture "
                    f"`{UNDERLAY}` to see every tier's traffic, VXLAN-encapsulated (UDP "
                    f"{hostplan.VXLAN_PORT})"
                )
            bridge = plan.underlay.bridge
        elif tier == UNDERLAY:
            raise ConfigError("there is no underlay on a single host (shopnet up --hosts N)")
        else:
            bridge = plan.bridge(tier).name
        self.progress.info(f"capturing on {bridge} into {output} …")
        summary = captures.capture(bridge, output, count=count, seconds=seconds)
        labels = {str(a): e.name for e in plan.endpoints for a in e.addresses}
        labels |= {str(h.uplink.ip): h.name for h in plan.hosts}
        labels |= {str(b.address.ip): h.name for h in plan.hosts for b in h.bridges}
        labels |= {
            f"vni {v.vni}": v.tier.name for v in (plan.hosts[0].vxlans if plan.hosts else ())
        }
        return summary.format(labels=labels)

    def netem(
        self, tier: str, *, delay_ms: float, loss_pct: float, clear: bool, rate: Rate | None = None
    ) -> str:
        plan = self._state_plan()
        if plan.hosts:
            raise ConfigError("netem is not available with several hosts yet")
        if clear:
            return netem.clear(plan, tier)
        return netem.apply(plan, tier, netem.Impairment(delay_ms=delay_ms, loss_pct=loss_pct), rate)
