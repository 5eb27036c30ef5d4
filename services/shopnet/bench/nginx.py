"""nginx as a peer gateway: round-robin over the same product and order instances.

It takes our gateway's place (same namespace in netns mode, same host in local
mode) on its own port, routes /api/products and /api/orders like ours, keeps
upstream connections alive, and retries like nginx does by default. Measuring
both in the same run gives the ratio our-gateway / nginx.

It cannot verify tokens (no JWT without njs), so it stands in for the gateway only
for the bench's own admin token: that exact `Authorization` value is sent upstream
as `X-Shopnet-Role: admin`, anything else as no caller (the order service's 401);
the client's own caller fields and token are never forwarded. The token makes the
conf a secret: written 0600 (nginx's master reads it as root).
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

from shopnet.errors import PreflightError
from shopnet.runtime.process import ProcessSpec, is_root


def render(
    *, listen: str, products: list[str], orders: list[str], prefix: Path, admin_token: str
) -> str:
    """nginx.conf for a peer listening on `listen` (host:port)."""

    def upstream(name: str, servers: list[str]) -> str:
        lines = "".join(f"        server {s};\n" for s in servers)
        return f"    upstream {name} {{\n{lines}        keepalive 128;\n    }}\n"

    user = "user www-data;\n" if is_root() else ""
    key = f"Bearer {admin_token}"
    return f"""# shopnet bench peer gateway (generated; see shopnet/bench/nginx.py)
{user}worker_processes auto;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
daemon off;

events {{
    worker_connections 4096;
}}

http {{
    access_log off;
    map_hash_bucket_size {_bucket_size(len(key))};
    map $http_authorization $shopnet_role {{
        default "";
        "{key}" admin;
    }}
    keepalive_requests 1000000;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
{upstream("product", products)}{upstream("order", orders)}
    server {{
        listen {listen} reuseport backlog=4096;
        location /api/products {{
            rewrite ^/api(/.*)$ $1 break;
            proxy_pass http://product;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
        location /api/orders {{
            rewrite ^/api(/.*)$ $1 break;
            proxy_pass http://order;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "";
            proxy_set_header X-Shopnet-Customer "";
            proxy_set_header X-Shopnet-Role $shopnet_role;
        }}
        location / {{
            return 404;
        }}
    }}
}}
"""


def _bucket_size(key_length: int) -> int:
    """A map hash bucket that holds the token's key: nginx's default (64, a cache line) is
    shorter than "Bearer <token>", and nginx then refuses to start."""
    size = 64
    while size < key_length + 32:  # the key plus its hash element's header, with room
        size *= 2
    return size


def spec(*, instance: str, conf: Path, log_path: Path) -> ProcessSpec:
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    if nginx is None:
        raise PreflightError("nginx not found: install it with `apt-get install nginx-light`")
    return ProcessSpec(
        instance=instance,
        argv=(nginx, "-c", str(conf), "-p", str(conf.parent)),
        log_path=log_path,
        stop_signal=signal.SIGQUIT,  # graceful: finish requests, then exit
    )


def prepare(directory: Path, conf_text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    conf = directory / "nginx.conf"
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(fd, 0o600)
        out.write(conf_text)
    return conf
