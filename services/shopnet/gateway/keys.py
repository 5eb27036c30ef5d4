"""Typed application state of the gateway."""

from __future__ import annotations

from aiohttp import web

from shopnet.gateway.config import GatewayConfig
from shopnet.gateway.discovery import Discovery
from shopnet.gateway.metrics import GatewayMetrics
from shopnet.gateway.proxy import Forwarder

GATEWAY_CONFIG = web.AppKey("gateway_config", GatewayConfig)
DISCOVERY = web.AppKey("discovery", Discovery)
GATEWAY_METRICS = web.AppKey("gateway_metrics", GatewayMetrics)
FORWARDERS = web.AppKey("forwarders", dict[str, Forwarder])
"""By route prefix."""
