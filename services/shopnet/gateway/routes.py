"""The route table: which public path prefix goes to which service, under which upstream path.

Data, not code: adding a service to the gateway is one more line here.
"""

from __future__ import annotations

from dataclasses import dataclass


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


ROUTES: tuple[Route, ...] = (
    Route("/api/products", "product", "/products", public_reads=True),
    Route("/api/orders", "order", "/orders"),
)
