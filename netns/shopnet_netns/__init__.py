"""shopnet's network-namespace layer: the topology as bridges, namespaces, veths and a firewall.

Synchronous, blocking, root-only building blocks for the netns driver. Inside
a running event loop call them through `asyncio.to_thread`: pyroute2's sync API
runs a loop of its own and fails with "This event loop is already running".

    plan = NetworkPlan.from_topology(topology, scale)
        pure: names, addresses, routes, published port (plan.endpoint("product-2"));
        with `hosts=N` also the simulated hosts, their underlay and VXLAN (hostplan.py),
        which `build` creates through overlay.py
    preflight.check(plan)
        before `up`: PreflightError (root, binaries, subnet/port collisions) or
        StateError (our leftovers: "run `shopnet down`")
    build(plan) -> BuildReport
        idempotent; completes a half-built network; firewall first
    limits = cgroups.apply(plan.names, endpoint.name, endpoint.instance.service)
        limits.problems: why a limit could not be applied (never raises)
    spawn(spec, owner=…, pid_dir=…, enter=enter_instance(endpoint.namespace, limits))
        the child joins the cgroups and the namespace before exec
    teardown(plan.names) -> TeardownReport(removed, problems)
        stops what runs in our namespaces, removes everything of ours, restores sysctls
    discover(plan.names) -> Inventory
        what of ours exists, found by prefix and markers (no state file needed)
    isolation.check(plan) / isolation.run(isolation.probes(plan, every_port=False))
        the matrix on an empty network (with listeners) / on a running stack;
        isolation.format_matrix(results) prints it
    netem.apply(plan, tier, Impairment(delay_ms, loss_pct)) / netem.clear(plan, tier)

Capture, the pcap summary, the loss filter and netem's impairment are shopnet.hostnet's
(the docker mode uses them too). Needs pyroute2: the `netns` extra.
"""

from shopnet_netns.build import BuildReport, build
from shopnet_netns.inventory import Inventory, TeardownReport, discover, teardown
from shopnet_netns.names import Names
from shopnet_netns.plan import NetworkPlan
from shopnet_netns.spawning import enter_instance, pids_in

__all__ = [
    "BuildReport",
    "Inventory",
    "Names",
    "NetworkPlan",
    "TeardownReport",
    "build",
    "discover",
    "enter_instance",
    "pids_in",
    "teardown",
]
