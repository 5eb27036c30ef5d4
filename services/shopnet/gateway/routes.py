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

    def upstream_path(self, path: str) -> str:
        """`/api/products/7` → `/products/7` (`path` is already known to start with the prefix)."""
        return self.upstream_prefix + path[len(self.prefix) :]


ROUTES: tuple[Route, ...] = (
    Route("/api/products", "product", "/products"),
    Route("/api/orders", "order", "/orders"),
)
