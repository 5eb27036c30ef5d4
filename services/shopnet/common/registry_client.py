"""Client side of the service registry: self-registration with TTL heartbeats, and watches.

The wire API (served by shopnet.registry):

    PUT    /v1/instances/{id}             register (idempotent)      token; answers a secret
    PUT    /v1/instances/{id}/heartbeat   renew the TTL (404: register again)   token + secret
    DELETE /v1/instances/{id}             deregister                            token + secret
    GET    /v1/services/{name}?index=N&wait=S   passing instances, long-poll
    GET    /v1/services                   catalog
    GET    /v1/instances                  every instance with its status

Writes carry the stack's token (`Authorization: Bearer …`, read from the file
SHOPNET_REGISTRY_TOKEN_FILE names) and, after registering, the registration's
secret (`X-Registry-Secret`); shopnet.registry.admission explains why.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import socket
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import orjson
from yarl import URL

from shopnet.common.background import BackgroundLoop, pause
from shopnet.errors import ConfigError

log = logging.getLogger("shopnet.registry_client")

T = TypeVar("T")

INDEX_HEADER = "X-Registry-Index"
SECRET_HEADER = "X-Registry-Secret"


def read_token_file(path: str, *, what: str = "registry token") -> str:
    """The secret kept in `path` (ConfigError naming the path, never the secret)."""
    if not path:
        raise ConfigError("SHOPNET_REGISTRY_TOKEN_FILE is not set; the registry needs its token")
    try:
        token = Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} file {path}: {exc.strerror}") from None
    if not token:
        raise ConfigError(f"the {what} file {path} is empty")
    return token


@dataclass(frozen=True, slots=True)
class ServiceInstance:
    """A passing instance as lookups return it."""

    id: str
    address: str
    port: int
    tags: tuple[str, ...] = ()

    @property
    def base_url(self) -> str:
        return f"http://{self.address}:{self.port}"


@dataclass(frozen=True, slots=True)
class InstanceInfo:
    """What an instance registers about itself."""

    id: str
    service: str
    address: str
    port: int
    ttl: float
    """Seconds without a heartbeat before the registry stops returning it."""
    deregister_after: float
    """Seconds critical before the registry forgets it."""
    tags: tuple[str, ...] = ()


class RegistryError(Exception):
    """The registry could not be reached or answered with an error."""


class RegistryClient:
    """Thin async wrapper over the registry's HTTP API.

    Writes need `token`; the client keeps each registration's secret for the
    heartbeats and the deregistration of that instance. Reads need neither.
    With an `identity` (a secret the runtime keeps for the instance across its
    restarts) the client presents it from the first registration on, so a
    restarted instance takes its passing entry back instead of getting a 409
    until the dead process's TTL runs out.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        token: str | None = None,
        identity: str | None = None,
    ) -> None:
        self._session = session
        self._base = URL(base_url.rstrip("/"))
        self._token = token
        self._identity = identity
        self._secrets: dict[str, str] = {}

    def _write_headers(self, instance_id: str) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        secret = self._secrets.get(instance_id) or self._identity
        if secret:
            headers[SECRET_HEADER] = secret
        return headers

    async def _call(
        self, method: str, path: str, *, timeout: float = 5.0, **kwargs: Any
    ) -> tuple[int, Any, Mapping[str, str]]:
        try:
            async with self._session.request(
                method,
                self._base.with_path(path),
                timeout=aiohttp.ClientTimeout(total=timeout),
                **kwargs,
            ) as resp:
                body = await resp.read()
                data = orjson.loads(body) if body else None
                return resp.status, data, resp.headers
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
            raise RegistryError(f"registry at {self._base} unreachable: {exc!r}") from exc

    async def register(self, instance: InstanceInfo) -> None:
        status, data, _ = await self._call(
            "PUT",
            f"/v1/instances/{instance.id}",
            data=orjson.dumps(
                {
                    "service": instance.service,
                    "address": instance.address,
                    "port": instance.port,
                    "tags": list(instance.tags),
                    "ttl_seconds": instance.ttl,
                    "deregister_after_seconds": instance.deregister_after,
                }
            ),
            headers={"Content-Type": "application/json", **self._write_headers(instance.id)},
        )
        if status != 200:
            raise RegistryError(f"register {instance.id} failed: {status} {data}")
        if data.get("secret"):
            self._secrets[instance.id] = data["secret"]

    async def heartbeat(self, instance_id: str) -> bool:
        """Renew the TTL; False when the registry no longer knows the instance."""
        status, data, _ = await self._call(
            "PUT",
            f"/v1/instances/{instance_id}/heartbeat",
            headers=self._write_headers(instance_id),
        )
        if status == 404:
            self._secrets.pop(instance_id, None)
            return False
        if status != 200:
            raise RegistryError(f"heartbeat {instance_id} failed: {status} {data}")
        return True

    async def deregister(self, instance_id: str) -> None:
        status, data, _ = await self._call(
            "DELETE",
            f"/v1/instances/{instance_id}",
            timeout=2.0,
            headers=self._write_headers(instance_id),
        )
        if status != 200:
            raise RegistryError(f"deregister {instance_id} failed: {status} {data}")
        self._secrets.pop(instance_id, None)

    async def lookup(
        self, service: str, *, index: int = 0, wait: float = 0.0
    ) -> tuple[list[ServiceInstance], int]:
        """Passing instances of `service`; with `index`, block up to `wait` s for a change."""
        params = {"index": str(index), "wait": f"{wait:g}"} if index else {}
        status, data, headers = await self._call(
            "GET", f"/v1/services/{service}", params=params, timeout=wait + 5.0
        )
        if status != 200:
            raise RegistryError(f"lookup {service} failed: {status} {data}")
        instances = [
            ServiceInstance(i["id"], i["address"], int(i["port"]), tuple(i.get("tags", ())))
            for i in data["instances"]
        ]
        return instances, int(headers.get(INDEX_HEADER, data.get("index", 0)))


def advertise_address_for(registry_url: str) -> str:
    """The local address other hosts reach us on: the source of our route to the registry.

    A UDP connect() sends nothing; it only asks the kernel which source address
    it would use. In a namespace or container that is the instance's own address.
    """
    url = URL(registry_url)
    host, port = url.host or "127.0.0.1", url.port or 80
    family, _, _, _, sockaddr = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_DGRAM)[0]
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect(sockaddr)
        address: str = probe.getsockname()[0]
        return address


async def _source_address(url: str) -> str:
    try:
        return await asyncio.to_thread(advertise_address_for, url)
    except OSError as exc:  # the registry's name does not resolve (yet)
        raise RegistryError(f"no route towards {url} yet: {exc}") from None


CALL_BOUND = 15.0
"""Longest one registration call may take, whatever aiohttp's own 5 s timeout does."""


async def _bounded(call: Coroutine[Any, Any, T]) -> T:
    """`call` in a task of its own, given up after CALL_BOUND s, so that one call that never
    returns, or a cancellation that is not stop()'s, cannot end the registration loop: the
    instance would serve, healthy, and never be routed to (seen in swarm start-up)."""
    attempt = asyncio.ensure_future(call)
    try:
        await asyncio.wait({attempt}, timeout=CALL_BOUND)
    except asyncio.CancelledError:  # stop()
        attempt.cancel()
        raise
    if not attempt.done():
        where = " < ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in attempt.get_stack(limit=6))
        attempt.cancel()  # not awaited: a call stuck in its cleanup must not hold us too
        raise RegistryError(f"registry call stuck for {CALL_BOUND:.0f} s in {where}")
    if attempt.cancelled():
        raise RegistryError("registry call cancelled by something other than stop()")
    return attempt.result()


class Registration(BackgroundLoop):
    """Keep one instance registered: register, heartbeat at TTL/3, re-register on 404."""

    def __init__(
        self, client: RegistryClient, instance: InstanceInfo, *, advertise_via: str = ""
    ) -> None:
        """An instance without an address registers the source address of its route to
        `advertise_via` (advertise_address_for), found here rather than before the loop:
        in swarm start-up the registry's name resolves only once its task is healthy, and a
        failure there, after the server listened, left a process serving but never
        registering. Here it is one more retried, logged call."""
        self._client = client
        self.instance = instance
        self._advertise_via = advertise_via
        self.registered = asyncio.Event()

    @property
    def task_name(self) -> str:
        return f"registration:{self.instance.id}"

    async def _run(self) -> None:
        backoff = 0.1
        registered = False
        while True:
            try:
                if not registered:
                    if not self.instance.address:
                        address = await _bounded(_source_address(self._advertise_via))
                        self.instance = dataclasses.replace(self.instance, address=address)
                    await _bounded(self._client.register(self.instance))
                    registered = True
                    self.registered.set()
                    log.info("registered", extra={"address": self.instance.address})
                elif not await _bounded(self._client.heartbeat(self.instance.id)):
                    log.warning("registry forgot this instance; registering again")
                    registered = False
                    continue
                backoff = 0.1
                await pause(self.instance.ttl / 3)
                continue
            except RegistryError as exc:
                log.warning("registry call failed; retrying in %.1fs: %s", backoff, exc)
            except Exception:
                # Nobody awaits this task until stop(): had it ended here, the instance would
                # serve, healthy, and never be routed to (seen in swarm start-up).
                log.exception("registration failed unexpectedly; retrying in %.1fs", backoff)
            await pause(backoff)
            backoff = min(backoff * 2, self.instance.ttl / 3)

    async def stop(self) -> None:
        """Stop heartbeating and deregister (best effort: the TTL covers a failure)."""
        await super().stop()
        try:
            await self._client.deregister(self.instance.id)
            log.info("deregistered")
        except RegistryError as exc:
            log.warning("deregister failed; the TTL will expire instead: %s", exc)


class ServiceWatch(BackgroundLoop):
    """Follow one service's passing instances with long-polls; call `on_change` on each change.

    The last known list is kept while the registry is unreachable: stale
    instances beat no instances, and passive ejection covers dead ones.
    """

    def __init__(
        self,
        client: RegistryClient,
        service: str,
        on_change: Callable[[list[ServiceInstance]], None],
        *,
        wait: float = 30.0,
    ) -> None:
        self._client = client
        self.service = service
        self._on_change = on_change
        self._wait = wait
        self.synced = asyncio.Event()

    @property
    def task_name(self) -> str:
        return f"watch:{self.service}"

    async def _run(self) -> None:
        index = 0
        last: list[ServiceInstance] | None = None
        backoff = 0.1
        while True:
            try:
                # Jitter spreads many watchers' re-polls (Consul's advice).
                wait = self._wait * random.uniform(0.9, 1.0)
                instances, new_index = await self._client.lookup(
                    self.service, index=index, wait=wait
                )
            except RegistryError as exc:
                log.warning("watch %s: %s; retrying in %.1fs", self.service, exc, backoff)
                await pause(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.1
            # An index can move (or go backwards after a registry restart) without a real
            # change; compare content, and start over from 0 when it went backwards.
            index = new_index if new_index >= index else 0
            if instances != last:
                last = instances
                self._on_change(instances)
            self.synced.set()
