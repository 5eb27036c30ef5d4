"""Whether this kernel can encrypt Swarm's overlays (`driver_opts: {encrypted: ""}`).

An encrypted overlay is VXLAN inside IPsec: Docker's libnetwork installs ESP
transport-mode states with AES-GCM (`rfc4106(gcm(aes))`, 64-bit ICV) between the
nodes. Without ESP (CONFIG_INET_ESP) or the GCM template in the kernel the overlay
is created all the same, but no packet crosses it — so ask the kernel first, by
adding such a state in a scratch network namespace of ours, and leave the overlays
in clear text with the reason when it refuses (this testbed's kernel has neither:
`ip xfrm state add … proto esp` answers "Requested type not found").
"""

from __future__ import annotations

import subprocess

ALGORITHM = "rfc4106(gcm(aes))"
KEY = "0x" + "ab" * 20  # 16 bytes of key, 4 of salt: only ever loaded in the scratch namespace


def unavailable(scratch: str) -> str | None:
    """None when ESP with AES-GCM works here, else why not; `scratch` names the namespace
    (ours, removed again)."""

    def ip(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", *args], capture_output=True, text=True, check=False, timeout=10
        )

    made = ip("netns", "add", scratch)
    if made.returncode != 0:
        return f"cannot make a scratch namespace to ask the kernel: {made.stderr.strip()}"
    try:
        state = ip(
            *("-n", scratch, "xfrm", "state", "add", "src", "192.0.2.1", "dst", "192.0.2.2"),
            *("proto", "esp", "spi", "0x100", "mode", "transport"),
            *("aead", ALGORITHM, KEY, "64"),
        )
    finally:
        ip("netns", "del", scratch)
    if state.returncode != 0:
        reason = state.stderr.strip().removeprefix("Error: ") or "refused"
        return f"the kernel has no IPsec ESP with {ALGORITHM} ({reason})"
    return None
