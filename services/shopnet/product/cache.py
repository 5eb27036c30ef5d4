"""Cache-aside in Redis for products and product lists, behind a circuit breaker.

Keys (standalone Redis; the scripts build list keys from arguments):

    shopnet:product:{id}                   the product's JSON, exactly as served
    shopnet:product-token:{id}             a random token, replaced by every write of it
    shopnet:products:gen                   the list generation, bumped by every write
    shopnet:products:list:{gen}:{query}    one list page's JSON

Hits. Product GETs are auto-pipelined (as ioredis and Lettuce do): those issued
in one event-loop tick leave as one MGET, and while it is in flight the next ones
gather for the one after it (shopnet.product.batching). One round trip and one
pass through redis-py per batch instead of per request, which is what makes the
hit path cheap. The bytes come back verbatim; nothing is decoded.

Fills cannot resurrect old data. A miss reads the product's token *before* it
reads the database and fills only if the token is still the same (one Lua
script, atomic); a write commits, *then* replaces the token and deletes the
key. So a write landing between a miss's read and its fill makes the fill a
no-op instead of caching the pre-write row until the TTL.

Lists use a generation instead of per-key invalidation: every write bumps
`gen`, every list key embeds the generation it was read under, so one INCR
makes every cached page stale at once; old pages just expire. Fills compare
the generation like products compare tokens. The generation starts from
Redis' clock (not 0), so an evicted counter can never come back to an old value.

Outage. Any Redis error opens the breaker: requests then skip Redis entirely
(no timeout paid per request) and read PostgreSQL; a background probe pings
every `probe_interval` and closes the breaker when Redis answers. Writes made
while it was open could not invalidate, so they are remembered and replayed
before the breaker closes (past a bound, every product key is dropped instead).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from prometheus_client import Gauge
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from shopnet.common.background import pause
from shopnet.common.health import CheckResult, CheckStatus
from shopnet.common.metrics import ServiceMetrics
from shopnet.product import scripts
from shopnet.product.batching import ERRORS, GetBatcher

log = logging.getLogger("shopnet.product.cache")

PRODUCT_PREFIX = "shopnet:product:"
TOKEN_PREFIX = "shopnet:product-token:"
GENERATION = "shopnet:products:gen"
LIST_PREFIX = "shopnet:products:list:"

# A token must outlive any fill in flight (bounded by the database timeouts).
TOKEN_TTL_SECONDS = 600
# Writes remembered during an outage before falling back to dropping every product key.
MAX_REMEMBERED = 10_000


def connect(
    url: str, *, timeout: float, max_connections: int, password: str | None = None
) -> aioredis.Redis:
    """A client that fails fast: short timeouts, no retries (the breaker handles outages)."""
    extra = {"password": password} if password is not None else {}
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        **extra,
        max_connections=max_connections,
        timeout=timeout,  # waiting for a free connection
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
    return aioredis.Redis(connection_pool=pool)


def product_key(product_id: int) -> str:
    return f"{PRODUCT_PREFIX}{product_id}"


def list_key(generation: str, query_key: str) -> str:
    return f"{LIST_PREFIX}{generation}:{query_key}"


class CacheMetrics:
    """shopnet_cache_up and shopnet_cache_requests{result}, children bound once (hot path).

    The lookups are tallied (shopnet.common.tallies): one per request, counted in a plain int.
    """

    def __init__(self, metrics: ServiceMetrics) -> None:
        self.up = Gauge(
            "shopnet_cache_up",
            "1 while Redis answers; 0 while reads bypass it and go to PostgreSQL.",
            registry=metrics.registry,
            multiprocess_mode="livemin",  # with workers: up only if up in every worker
        )
        requests = metrics.tallies.counter(
            "shopnet_cache_requests",
            "Cache lookups by result: hit, miss, error (Redis failed), "
            "bypass (breaker open, Redis not asked).",
            ["result"],
        )
        self.hit = requests.labels("hit")
        self.miss = requests.labels("miss")
        self.error = requests.labels("error")
        self.bypass = requests.labels("bypass")


# What a miss read before loading: the product's token (None: no token yet), or NO_FILL
# when Redis could not be asked, in which case the loaded value is not cached.
NO_FILL = object()


class ProductCache:
    def __init__(
        self,
        client: aioredis.Redis,
        *,
        ttl: int,
        probe_interval: float,
        metrics: CacheMetrics,
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._probe_interval = probe_interval
        self.metrics = metrics
        self._batcher = GetBatcher(client)
        self._fill_product = client.register_script(scripts.FILL_PRODUCT)
        self._invalidate = client.register_script(scripts.INVALIDATE)
        self._get_list = client.register_script(scripts.GET_LIST)
        self._bump_generation = client.register_script(scripts.BUMP_GENERATION)
        self._fill_list = client.register_script(scripts.FILL_LIST)
        self.up = False  # until the first probe answers
        self._last_error = "not probed yet"
        self._remembered: set[int] = set()
        self._forget_everything = False
        metrics.up.set(0)

    # -- products -------------------------------------------------------------

    async def get_product(self, product_id: int) -> bytes | None:
        """The cached JSON, or None (a miss, or Redis unusable)."""
        if not self.up:
            self.metrics.bypass.inc()
            return None
        try:
            value = await self._batcher.get(product_key(product_id))
        except ERRORS as exc:
            self._trip(exc)
            self.metrics.error.inc()
            return None
        if value is None:
            self.metrics.miss.inc()
        else:
            self.metrics.hit.inc()
        return value

    async def load_product(
        self, product_id: int, load: Callable[[], Awaitable[bytes | None]]
    ) -> bytes | None:
        """After a miss: `load()` from the database and cache the result unless a write raced."""
        token: object = NO_FILL
        if self.up:
            try:
                token = await self._client.get(TOKEN_PREFIX + str(product_id))
            except ERRORS as exc:
                self._trip(exc)
        body = await load()
        if body is not None and token is not NO_FILL:
            expected = token.decode() if isinstance(token, bytes) else ""
            await self._write(
                self._fill_product(
                    keys=[product_key(product_id), TOKEN_PREFIX + str(product_id)],
                    args=[expected, body, self._ttl],
                )
            )
        return body

    async def invalidate(self, product_id: int) -> None:
        """After a committed write of the product: stale for every reader, product and lists."""
        if self.up and await self._write(self._invalidate_call(product_id)):
            return
        self._remember(product_id)

    def _invalidate_call(
        self, product_id: int, client: aioredis.Redis | None = None
    ) -> Awaitable[object]:
        return self._invalidate(
            keys=[product_key(product_id), TOKEN_PREFIX + str(product_id), GENERATION],
            args=[secrets.token_hex(8), TOKEN_TTL_SECONDS],
            client=client,
        )

    # -- lists ----------------------------------------------------------------

    async def get_list(self, query_key: str) -> tuple[str | None, bytes | None]:
        """(generation, cached page); generation None means: do not fill."""
        if not self.up:
            self.metrics.bypass.inc()
            return None, None
        try:
            generation, body = await self._get_list(
                keys=[GENERATION], args=[LIST_PREFIX, query_key]
            )
        except ERRORS as exc:
            self._trip(exc)
            self.metrics.error.inc()
            return None, None
        (self.metrics.hit if body else self.metrics.miss).inc()
        return generation.decode(), body or None

    async def fill_list(self, generation: str | None, query_key: str, body: bytes) -> None:
        if generation is not None:
            await self._write(
                self._fill_list(
                    keys=[GENERATION],
                    args=[generation, list_key(generation, query_key), body, self._ttl],
                )
            )

    # -- health ---------------------------------------------------------------

    async def run_probe(self) -> None:
        """Forever: ping; notice Redis leaving (the breaker opens) and returning (it closes)."""
        while True:
            await self.probe()
            await pause(self._probe_interval)

    async def probe(self) -> None:
        try:
            await self._client.ping()
            if not self.up:
                await self._replay_remembered()
        except ERRORS as exc:
            self._trip(exc)
            return
        if not self.up:
            self.up = True
            self.metrics.up.set(1)
            log.info("cache available: reads go through Redis again")

    async def readiness(self) -> CheckResult:
        if self.up:
            return CheckResult(CheckStatus.OK)
        return CheckResult(
            CheckStatus.DEGRADED, f"redis unavailable, serving from PostgreSQL: {self._last_error}"
        )

    async def close(self) -> None:
        await self._batcher.close()
        await self._client.aclose(close_connection_pool=True)

    # -- internals ------------------------------------------------------------

    def _trip(self, exc: BaseException) -> None:
        self._last_error = f"{type(exc).__name__}: {exc}"
        if self.up:
            self.up = False
            self.metrics.up.set(0)
            log.warning("cache unavailable, bypassing Redis: %s", self._last_error)

    async def _write(self, call: Awaitable[object]) -> bool:
        """Run a cache write; False (breaker opened) when Redis failed."""
        try:
            await call
        except ERRORS as exc:
            self._trip(exc)
            return False
        return True

    def _remember(self, product_id: int) -> None:
        if self._forget_everything:
            return
        self._remembered.add(product_id)
        if len(self._remembered) > MAX_REMEMBERED:
            self._forget_everything = True
            self._remembered.clear()

    async def _replay_remembered(self) -> None:
        """Before closing the breaker: apply the invalidations that failed while it was open."""
        # Writes may keep arriving (and be remembered) while this awaits: loop until none.
        while self._forget_everything or self._remembered:
            if self._forget_everything:
                # From here on, writes are remembered one by one again.
                self._forget_everything = False
                self._remembered.clear()
                try:
                    async for key in self._client.scan_iter(match=f"{PRODUCT_PREFIX}*", count=1000):
                        await self._client.unlink(key)
                    await self._bump_generation(keys=[GENERATION])
                except BaseException:
                    self._forget_everything = True
                    raise
                continue
            ids = list(self._remembered)
            async with self._client.pipeline(transaction=False) as pipe:
                for product_id in ids:
                    await self._invalidate_call(product_id, client=pipe)  # queues it
                await pipe.execute()
            self._remembered.difference_update(ids)
