"""CacheFlushing from the host (runtime.backup.host_cache_flusher), the bench's cache-miss flush as the modes the host reaches use it."""

from __future__ import annotations

from pathlib import Path

import redis
from shopnet.runtime.base import InstanceStatus
from shopnet.runtime.local import LocalDriver
from shopnet.runtime.progress import Progress
from shopnet.topology import default_topology
from tests.support.servers import RedisServer


def test_drops_the_cache_users_keys_and_nothing_else(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    driver = LocalDriver(topology=default_topology(), root=tmp_path, progress=Progress(quiet=True))
    cache = InstanceStatus(
        "redis", "redis-1", f"{redis_server.host}:{redis_server.port}", 1, "ready"
    )
    client = redis.Redis(host=redis_server.host, port=redis_server.port, db=0)
    client.flushall()
    client.mset({"shopnet:product:1": "a", "shopnet:products:gen": "7", "someone:else": "b"})
    with driver.cache_flusher([cache]) as flush_all:
        assert flush_all is not None
        flush_all()
    assert client.keys("*") == [b"someone:else"]
    with driver.cache_flusher([]) as nothing:  # a stack without its cache running
        assert nothing is None
    client.close()
