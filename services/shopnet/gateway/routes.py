"""The route table: which public path prefix goes to which service, under which upstream path.

Data, not code: each service's spec (shopnet.spec) carries its routes; the runtime hands
the gateway those of the services it may call (SHOPNET_GATEWAY_ROUTES, `format_routes`).
"""

from __future__ import annotations

from dataclasses import dataclass

from shopnet.errors import ConfigError

_PUBLIC_READS = "public-reads"


@dataclass(frozen=True, slots=True)
class Route:
    """Requests under `prefix` go to `service`, with `prefix` replaced by `upstream_prefix`."""

    prefix: str
    """Public path prefix, e.g. `/api/products` (matches itself and `/api/products/…`)."""
    service: str
    """Registry name of the upstream service."""
    upstream_prefix: str
    """What replaces `prefix` in the upstream request path, e.g. `/products`."""
    public_reads: bool = False
    """GET/HEAD/OPTIONS need no token (the catalog); everything else needs an admin's.
    Without it every request needs a token (shopnet.gateway.access)."""

    def upstream_path(self, path: str) -> str:
        """`/api/products/7` → `/products/7` (`path` is already known to start with the prefix)."""
        return self.upstream_prefix + path[len(self.prefix) :]

    def public_location(self, location: str) -> str:
        """An upstream's `Location: /products/7` as the caller must follow it: `/api/products/7`.

        nginx's default `proxy_redirect` does the same; absolute URLs and paths outside
        the upstream prefix pass unchanged.
        """
        upstream = self.upstream_prefix
        if location == upstream or location.startswith((upstream + "/", upstream + "?")):
            return self.prefix + location[len(upstream) :]
        return location


def format_routes(routes: tuple[Route, ...]) -> str:
    """`/api/products=product:/products:public-reads,/api/orders=order:/orders`."""
    return ",".join(
        f"{r.prefix}={r.service}:{r.upstream_prefix}"
        + (f":{_PUBLIC_READS}" if r.public_reads else "")
        for r in routes
    )


def parse_routes(text: str) -> tuple[Route, ...]:
    """The routes `format_routes` wrote."""
    routes = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        prefix, _, target = item.partition("=")
        service, _, rest = target.partition(":")
        upstream, _, flag = rest.partition(":")
        if not (prefix.startswith("/") and service and upstream.startswith("/")) or flag not in {
            "",
            _PUBLIC_READS,
        }:
            raise ConfigError(
                f"malformed route {item!r} (want /prefix=service:/upstream[:{_PUBLIC_READS}])"
            )
        routes.append(Route(prefix, service, upstream, public_reads=bool(flag)))
    return tuple(routes)
