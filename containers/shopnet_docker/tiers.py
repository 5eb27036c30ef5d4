"""capture and netem (delay, loss, rate) in docker mode: shopnet.hostnet's tools on a tier's bridge and veths.

Same checks, wording and loss fallback (nftables, on a kernel without netem) as
the netns mode; the bridge is the tier network's (`snd-<tier>`), the veths are
found from each container's pid and MAC (links.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from shopnet.errors import ConfigError, PreflightError, StateError
from shopnet.hostnet import lossfilter
from shopnet.hostnet.capture import capture as tcpdump
from shopnet.hostnet.netem import Impairment, kernel_support
from shopnet.hostnet.ratelimit import Rate, check_combination
from shopnet.topology.model import Tier
from shopnet_docker import links
from shopnet_docker.compose import networks as compose_networks
from shopnet_docker.stack import Network

if TYPE_CHECKING:
    from shopnet_docker.project import Project


def network(project: Project, tier: str) -> Network:
    created = compose_networks(project.topology, project.wiring())
    if tier not in {t.name for t in created}:
        known = ", ".join(t.name for t in created)
        raise ConfigError(f"unknown tier {tier!r}; this stack's networks: {known}")
    project.docker.ping()
    for found in project.stack.networks():
        if found.tier == tier:
            return found
    raise StateError(f"the docker stack has no {tier} network (is it up?)")


def created_networks(project: Project) -> tuple[Tier, ...]:
    return compose_networks(project.topology, project.wiring())


def capture(
    project: Project, tier: str, *, count: int | None, seconds: float | None, output: Path
) -> str:
    bridge = network(project, tier).bridge
    summary = tcpdump(bridge, output, count=count, seconds=seconds)
    labels = {
        address: c.instance for c in project.stack.containers() for address in c.addresses.values()
    }
    labels[str(next(t for t in created_networks(project) if t.name == tier).host_address)] = "host"
    return f"{tier} ({bridge}) → {output}\n" + summary.format(labels=labels)


def netem(
    project: Project,
    tier: str,
    *,
    delay_ms: float,
    loss_pct: float,
    clear: bool,
    rate: Rate | None = None,
) -> str:
    network(project, tier)
    found = links.links(project.stack.containers(), tier)
    if clear:
        table = " and the loss table" if lossfilter.clear(project.name, tier) else ""
        return f"tier {tier}: netem removed from {links.clear(found)} interfaces{table}"
    impairment = Impairment(delay_ms=delay_ms, loss_pct=loss_pct)
    if not found:
        return f"tier {tier} has no running containers; nothing to shape"
    reason = kernel_support()
    check_combination(delay_ms=delay_ms, loss_pct=loss_pct, rate=rate, netem=reason is None)
    done = []
    if rate is None or impairment != Impairment():
        done.append(_impair(project, tier, found, impairment, reason))
    if rate is not None:
        shaped = links.ratelimit(found, rate)
        done.append(
            f"tier {tier}: rate {rate.describe()} per instance and direction by tbf "
            f"on {shaped} interfaces (both veth ends of {len(found)} containers)"
        )
    return "\n".join(done)


def _impair(
    project: Project,
    tier: str,
    found: list[links.Link],
    impairment: Impairment,
    reason: str | None,
) -> str:
    if reason:
        if impairment.delay_ms:
            raise PreflightError(reason)
        subnet = next(t.subnet for t in created_networks(project) if t.name == tier)
        return lossfilter.apply(project.name, tier, subnet, impairment.loss_pct)
    shaped = links.netem(found, delay_ms=impairment.delay_ms, loss_pct=impairment.loss_pct)
    return (
        f"tier {tier}: {impairment.describe()} on {shaped} interfaces "
        f"(both veth ends of {len(found)} containers)"
    )


def remove_loss_tables(project: Project) -> list[str]:
    """nftables loss tables `netem --loss` made on a kernel without netem."""
    if shutil.which("nft") is None:
        return []
    return [
        f"nftables table inet {lossfilter.table(project.name, t.name)}"
        for t in project.topology.tiers
        if lossfilter.clear(project.name, t.name)
    ]
