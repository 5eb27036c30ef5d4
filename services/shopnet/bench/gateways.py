"""The gateways people pick, beside nginx: HAProxy and Caddy in our gateway's place.

Like the nginx peer (bench/nginx.py) each listens beside gateway-1 on a port of its own,
is configured from the same instance list (round-robin over the product and order
instances, /api stripped, upstream connections kept alive, no access log), and drops
root the way its Debian package does (user haproxy, user caddy). The bench measures
req/s, capacity at the latency target and CPU per request of each.
"""

from __future__ import annotations

import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

from shopnet.errors import PreflightError
from shopnet.runtime.process import ProcessSpec, is_root

PORT_OFFSETS = {"haproxy": 2, "caddy": 3}
"""Beside the peer port (nginx) and the calibration handler (+1)."""


@dataclass(frozen=True, slots=True)
class Upstreams:
    products: list[str]
    orders: list[str]


def render_haproxy(listen: str, upstreams: Upstreams) -> str:
    def backend(name: str, servers: list[str]) -> str:
        lines = "".join(f"    server {name}{i} {s}\n" for i, s in enumerate(servers, 1))
        return (
            f"backend {name}\n    balance roundrobin\n"
            "    http-request replace-path ^/api(/.*) \\1\n" + lines
        )

    drop = "    user haproxy\n    group haproxy\n" if is_root() else ""
    return f"""# shopnet bench peer gateway (generated; see shopnet/bench/gateways.py)
global
    maxconn 4096
{drop}
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
    http-reuse always

frontend peer
    bind {listen}
    acl products path /api/products
    acl products path_beg /api/products/
    acl orders path /api/orders
    acl orders path_beg /api/orders/
    http-request return status 404 if !products !orders
    use_backend product if products
    use_backend order if orders

{backend("product", upstreams.products)}
{backend("order", upstreams.orders)}"""


def render_caddy(listen: str, upstreams: Upstreams) -> str:
    def route(path: str, servers: list[str]) -> str:
        return (
            f"    @{path} path /api/{path} /api/{path}/*\n"
            f"    handle @{path} {{\n        uri strip_prefix /api\n"
            f"        reverse_proxy {' '.join(servers)} {{\n"
            "            lb_policy round_robin\n        }\n    }\n"
        )

    return f"""# shopnet bench peer gateway (generated; see shopnet/bench/gateways.py)
{{
    admin off
    auto_https off
    servers {{
        protocols h1
    }}
}}

http://{listen} {{
{route("products", upstreams.products)}{route("orders", upstreams.orders)}    handle {{
        respond 404
    }}
}}
"""


def _binary(name: str) -> str:
    found = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)), None
    )
    if found is None:
        raise PreflightError(f"{name} not found: install it with `apt-get install {name}`")
    return found


def prepare(name: str, directory: Path, listen: str, upstreams: Upstreams) -> ProcessSpec:
    """Write the peer's configuration under `directory` and say how to run it."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    log_path = directory / f"{name}.log"
    if name == "haproxy":
        conf = directory / "haproxy.cfg"
        conf.write_text(render_haproxy(listen, upstreams))
        conf.chmod(0o644)
        return ProcessSpec(
            instance="haproxy-peer",
            argv=(_binary("haproxy"), "-f", str(conf), "-db"),
            log_path=log_path,
            stop_signal=signal.SIGUSR1,  # soft stop: finish what is in flight
        )
    if name == "caddy":
        conf = directory / "Caddyfile"
        conf.write_text(render_caddy(listen, upstreams))
        conf.chmod(0o644)
        home = directory / "caddy-home"  # its data and config directories, writable by it
        home.mkdir(exist_ok=True)
        user = "caddy" if is_root() else None
        if user is not None:
            shutil.chown(home, user=user)
        return ProcessSpec(
            instance="caddy-peer",
            argv=(_binary("caddy"), "run", "--config", str(conf), "--adapter", "caddyfile"),
            log_path=log_path,
            env={"HOME": str(home), "XDG_DATA_HOME": str(home), "XDG_CONFIG_HOME": str(home)},
            user=user,
        )
    raise ValueError(f"no peer gateway named {name}")
