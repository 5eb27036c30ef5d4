"""Delay, loss and a rate on a tier's links (tc netem and tbf, through pyroute2's tc support).

netem shapes *egress* only: a qdisc on an interface delays what leaves it. For
symmetric impairment we put netem on both ends of each of the tier's veth
pairs — the host end (its egress is traffic *to* the instance) and `eth0` in
the namespace (traffic *from* it) — like a Mininet TCLink. Both ends are ours
(marked, or inside our namespace) and vanish with the testbed; the alternative,
an ifb device with a mirred redirect on ingress, needs the ifb module and a
shared device teardown would have to reason about.

So with `delay D`, every packet into or out of an instance of the tier waits D:
a request/response exchange with one of its instances gains 2·D of round-trip
time (4·D between two instances of the same tier, which cross two links), and
`loss L` drops L% in each direction. A rate (shopnet.hostnet.ratelimit) is a tbf
root qdisc on the same ends: each instance of the tier gets it in each direction.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from shopnet.errors import DriverError, PreflightError
from shopnet.hostnet import lossfilter
from shopnet.hostnet.netem import NO_NETEM, Impairment, kernel_support
from shopnet.hostnet.ratelimit import KINDS, LATENCY_MS, Rate, check_combination
from shopnet_netns import namespaces
from shopnet_netns.plan import NetworkPlan

TC_H_ROOT = 0xFFFFFFFF
HANDLE = 0x10000  # "1:"

__all__ = ["Impairment", "Rate", "apply", "clear", "kernel_support", "show"]


def _links(plan: NetworkPlan, tier: str) -> list[tuple[str | None, str]]:
    """(namespace or None for the host, ifname) of both ends of every veth of `tier`."""
    plan.bridge(tier)  # unknown tier → ConfigError
    ends: list[tuple[str | None, str]] = []
    for endpoint in plan.endpoints:
        if endpoint.instance.tier.name == tier:
            ends += [(None, endpoint.veth), (endpoint.namespace, "eth0")]
        ends += [
            end
            for leg in endpoint.legs
            if leg.tier.name == tier
            for end in ((None, leg.veth), (endpoint.namespace, leg.ifname))
        ]
    return ends


def _ipr(namespace: str | None) -> IPRoute:
    if namespace is not None and not namespaces.exists(namespace):
        raise DriverError(f"namespace {namespace} does not exist (is the network built?)")
    # flags=0: never create a namespace that is not there (pyroute2's default would).
    return IPRoute(netns=namespace, flags=0) if namespace else IPRoute()


def _index(ipr: IPRoute, ifname: str, namespace: str | None) -> int:
    found = ipr.link_lookup(ifname=ifname)
    if not found:
        where = namespace or "the host"
        raise DriverError(f"{ifname} not found in {where} (is the network built?)")
    index: int = found[0]
    return index


def apply(plan: NetworkPlan, tier: str, impairment: Impairment, rate: Rate | None = None) -> str:
    """Put `impairment` and/or `rate` on every link of `tier` (replacing any previous one of
    the same kind); returns a summary."""
    ends = _links(plan, tier)
    if not ends:
        return f"tier {tier} has no instances; nothing to shape"
    reason = kernel_support()
    check_combination(
        delay_ms=impairment.delay_ms, loss_pct=impairment.loss_pct, rate=rate, netem=reason is None
    )
    done = []
    if rate is None or impairment != Impairment():
        done.append(_impair(plan, tier, ends, impairment, reason))
    if rate is not None:
        for namespace, ifname in ends:
            with _ipr(namespace) as ipr:
                try:
                    ipr.tc(
                        "replace", "tbf", index=_index(ipr, ifname, namespace), handle=HANDLE,
                        rate=rate.bytes_per_second, burst=rate.burst_bytes,
                        latency=f"{LATENCY_MS}ms",
                    )  # fmt: skip
                except NetlinkError as exc:
                    raise DriverError(f"tbf on {ifname}: {exc}") from None
        done.append(
            f"tier {tier}: rate {rate.describe()} per instance and direction by tbf "
            f"on {len(ends)} interfaces (both veth ends)"
        )
    return "\n".join(done)


def _impair(
    plan: NetworkPlan,
    tier: str,
    ends: list[tuple[str | None, str]],
    impairment: Impairment,
    reason: str | None,
) -> str:
    if reason:
        if impairment.delay_ms or impairment.jitter_ms:
            raise PreflightError(reason)
        subnet = plan.bridge(tier).tier.subnet
        return lossfilter.apply(
            plan.names.prefix, tier, subnet, impairment.loss_pct
        )  # needs no netem
    for namespace, ifname in ends:
        with _ipr(namespace) as ipr:
            try:
                ipr.tc(
                    "replace",
                    "netem",
                    index=_index(ipr, ifname, namespace),
                    handle=HANDLE,
                    delay=round(impairment.delay_ms * 1000),  # microseconds
                    jitter=round(impairment.jitter_ms * 1000),
                    loss=impairment.loss_pct,
                )
            except NetlinkError as exc:
                if exc.code == errno.ENOENT:  # qdisc kind unknown to the kernel
                    clear(plan, tier)
                    raise PreflightError(NO_NETEM) from None
                raise DriverError(f"netem on {ifname}: {exc}") from None
    return f"tier {tier}: {impairment.describe()} on {len(ends)} interfaces (both veth ends)"


def _existing_links(plan: NetworkPlan, tier: str) -> Iterator[tuple[IPRoute, int, str]]:
    """(netlink socket, interface index, "<where>/<ifname>") of the tier's links that exist."""
    for namespace, ifname in _links(plan, tier):
        if namespace is not None and not namespaces.exists(namespace):
            continue
        with _ipr(namespace) as ipr:
            found = ipr.link_lookup(ifname=ifname)
            if found:
                yield ipr, found[0], f"{namespace or 'host'}/{ifname}"


def clear(plan: NetworkPlan, tier: str) -> str:
    """Remove our netem and tbf qdiscs from every link of `tier` (idempotent); returns a summary."""
    cleared = 0
    table = lossfilter.clear(plan.names.prefix, tier)
    for ipr, index, _ in _existing_links(plan, tier):
        for qdisc in ipr.get_qdiscs(index=index):
            if qdisc.get("TCA_KIND") in KINDS and qdisc["parent"] == TC_H_ROOT:
                ipr.tc("del", index=index, handle=qdisc["handle"], parent=TC_H_ROOT)
                cleared += 1
    extra = " and the loss table" if table else ""
    return f"tier {tier}: netem removed from {cleared} interfaces{extra}"


def show(plan: NetworkPlan, tier: str) -> dict[str, str]:
    """`<where>/<ifname>` → root qdisc kind, for the tier's links."""
    shown = {}
    for ipr, index, where in _existing_links(plan, tier):
        qdiscs = ipr.get_qdiscs(index=index)
        kinds = [q.get("TCA_KIND") for q in qdiscs if q["parent"] == TC_H_ROOT]
        shown[where] = kinds[0] if kinds else "noqueue"
    return shown
