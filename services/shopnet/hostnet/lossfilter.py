"""Packet loss on a tier without netem: nftables drops a random share of its packets.

For kernels built without sch_netem (such as the one these tests run on), loss —
unlike delay — can still be emulated: a table of our own, `inet <prefix>_impair_<tier>`,
drops each packet to or from the tier's subnet with the given probability
(`numgen random`), at every hook such a packet passes (forward, input, output).
Like netem on both veth ends, the loss applies in each direction; traffic between
two instances of the tier passes the forward hook once. The table carries our
prefix (the topology's), so netns teardown removes it with the firewall's; the docker
mode, whose tiers are the same subnets, uses it too and removes it in `down`.
"""

from __future__ import annotations

from ipaddress import IPv4Network

from shopnet.hostnet import tools

RESOLUTION = 10_000  # loss in hundredths of a percent


def table(prefix: str, tier: str) -> str:
    return f"{prefix}_impair_{tier}"


def render(prefix: str, tier: str, subnet: IPv4Network, loss_pct: float) -> str:
    threshold = round(loss_pct / 100 * RESOLUTION)
    # nft compares within the value's range (0 to RESOLUTION - 1): 100% is an unconditional drop.
    chance = f"numgen random mod {RESOLUTION} < {threshold} " if threshold < RESOLUTION else ""
    drop = f"{chance}counter drop"
    lines = [f"table inet {table(prefix, tier)} {{"]
    for hook in ("forward", "input", "output"):
        lines += [
            f"  chain {hook} {{",
            f"    type filter hook {hook} priority filter - 20; policy accept;",
            f"    ip saddr {subnet} {drop}",
            f"    ip daddr {subnet} {drop}",
            "  }",
        ]
    return "\n".join([*lines, "}"]) + "\n"


def apply(prefix: str, tier: str, subnet: IPv4Network, loss_pct: float) -> str:
    name = table(prefix, tier)
    script = (
        f"table inet {name}\ndelete table inet {name}\n{render(prefix, tier, subnet, loss_pct)}"
    )
    tools.run(["nft", "-f", "-"], stdin=script, what=f"loading nftables table inet {name}")
    return (
        f"tier {tier}: loss {loss_pct:g}% per direction by nftables (table inet {name}); "
        "this kernel has no netem, so no delay"
    )


def clear(prefix: str, tier: str) -> bool:
    """Remove the tier's loss table; True when there was one."""
    name = table(prefix, tier)
    out = tools.run(["nft", "delete", "table", "inet", name], what=f"deleting {name}", check=False)
    return out.returncode == 0
