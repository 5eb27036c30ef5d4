"""A small Redis-backed cart service, for tests only: proof that a service is its package
plus topology lines (docs/services.md). This spec is all the stack reads of it."""

from __future__ import annotations

from shopnet.gateway.routes import Route
from shopnet.spec import ServiceSpec

SPEC = ServiceSpec(
    name="cart",
    config="shopnet_cart.config:CartConfig",
    app="shopnet_cart.app",
    routes=(Route("/api/carts", "cart", "/carts"),),
)
