"""What a compromised service could do to the datastores, tried from inside its container.

`PROBE` runs in a product or order container with the service's own interpreter,
libraries and mounted credentials (the files its environment names), and prints
what each attempt gave: "ok" or the error's class name.
"""

from __future__ import annotations

import json

from shopnet_docker.engine import Docker

PROBE = r"""
import asyncio, json, os, sys
import asyncpg, redis

def outcome(call):
    try:
        call()
        return "ok"
    except Exception as exc:
        return type(exc).__name__

async def sql_outcome(statement):
    try:
        conn = await asyncpg.connect(
            os.environ["DATABASE_URL"], password=open(os.environ["DATABASE_PASSWORD_FILE"]).read().strip()
        )
    except Exception as exc:
        return "connect: " + type(exc).__name__
    try:
        await conn.execute(statement)
        return "ok"
    except Exception as exc:
        return type(exc).__name__
    finally:
        await conn.close()

result = {}
if os.environ.get("REDIS_URL"):
    anonymous = redis.Redis(host="redis", port=6379, socket_timeout=5)
    result["redis anonymous GET"] = outcome(lambda: anonymous.get("shopnet:product:1"))
    password = open(os.environ["REDIS_PASSWORD_FILE"]).read().strip()
    own = redis.Redis.from_url(os.environ["REDIS_URL"], password=password, socket_timeout=5)
    result["redis own prefix SET"] = outcome(lambda: own.set("shopnet:product:probe", "1", ex=5))
    result["redis other key GET"] = outcome(lambda: own.get("shopnet:orders:1"))
    result["redis CONFIG GET"] = outcome(lambda: own.config_get("*"))
    result["redis FLUSHALL"] = outcome(lambda: own.flushall())
for statement in json.loads(sys.argv[1]):
    result[statement] = asyncio.run(sql_outcome(statement))
print(json.dumps(result))
"""


def probe(docker: Docker, container: str, statements: list[str]) -> dict[str, str]:
    """Run PROBE in `container`: Redis attempts (where it has Redis) and `statements`."""
    out = docker.run(
        "exec", container, "python3", "-c", PROBE, json.dumps(statements),
        what=f"probing the datastores from {container}",
    )  # fmt: skip
    return json.loads(out.stdout)
