"""The registry app: routes, and the sweeper that turns TTL expiry into watch events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from shopnet.common.app import create_base_app
from shopnet.common.background import cancel_and_wait, pause
from shopnet.common.bindings import parse_bindings
from shopnet.common.registry_client import read_token_file
from shopnet.registry import handlers
from shopnet.registry.admission import Admission, parse_subnets
from shopnet.registry.config import RegistryConfig
from shopnet.registry.store import Store
from shopnet.registry.watches import WatchCounts

log = logging.getLogger("shopnet.registry")


def create_app(cfg: RegistryConfig) -> web.Application:
    app = create_base_app(cfg)
    app[handlers.STORE] = Store(max_instances=cfg.max_instances, max_services=cfg.max_services)
    app[handlers.REGISTRY_CONFIG] = cfg
    app[handlers.WATCHES] = WatchCounts()
    app[handlers.ADMISSION] = Admission(
        bindings=parse_bindings(
            read_token_file(cfg.tokens_file, what="registry token bindings"), cfg.tokens_file
        ),
        allowed=parse_subnets(cfg.allowed_subnets),
        check_peer=cfg.check_peer_address,
    )
    app.cleanup_ctx.append(_sweeper)
    app.on_shutdown.append(_release_watchers)
    r = app.router
    r.add_put("/v1/instances/{id}", handlers.register)
    r.add_put("/v1/instances/{id}/heartbeat", handlers.heartbeat)
    r.add_delete("/v1/instances/{id}", handlers.deregister)
    r.add_get("/v1/instances/{id}", handlers.one_instance)
    r.add_get("/v1/instances", handlers.all_instances)
    r.add_get("/v1/services/{service}", handlers.service_instances)
    r.add_get("/v1/services", handlers.catalog)
    return app


async def _release_watchers(app: web.Application) -> None:
    app[handlers.STORE].release_watchers()


async def _sweeper(app: web.Application) -> AsyncIterator[None]:
    store, interval = app[handlers.STORE], app[handlers.REGISTRY_CONFIG].sweep_seconds

    async def sweep_forever() -> None:
        while True:
            await pause(interval)
            for instance_id, event in store.sweep():
                log.info("instance %s", event, extra={"instance_id": instance_id})

    task = asyncio.create_task(sweep_forever(), name="registry-sweeper")
    yield
    await cancel_and_wait(task)
