"""Real Redis and PostgreSQL servers for tests, started with the runtime's own launchers.

Each server lives in a temporary directory, listens on a free loopback port and
can be stopped, killed and started again (the degradation and durability tests
need that). Nothing here is a mock.
"""

from __future__ import annotations

import secrets
import shutil
import signal
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from shopnet.runtime import datastores, process
from shopnet.topology.wiring import DB_USER, database_url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SCRATCH: list[Path] = []
"""Every scratch directory of this session: removed when the session passes (tests/conftest.py),
kept as the evidence when it fails."""


def scratch_dir(prefix: str) -> Path:
    """A temporary directory the datastore users (postgres, redis) can reach."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    SCRATCH.append(path)
    return path


def remove_scratch_dirs() -> None:
    while SCRATCH:
        shutil.rmtree(SCRATCH.pop(), ignore_errors=True)


@dataclass
class _Server:
    name: str
    root: Path = field(default_factory=lambda: scratch_dir("shopnet-test-"))
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    pid: int | None = None

    @property
    def pid_dir(self) -> Path:
        return self.root / "pids"

    def _spec(self) -> process.ProcessSpec:
        raise NotImplementedError

    def _wait(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        spec = self._spec()
        # Dies with the test session, even a killed one: nothing else would ever stop it.
        self.pid = process.spawn(spec, owner=str(self.root), pid_dir=self.pid_dir, with_parent=True)
        self._wait()

    def stop(self) -> None:
        """Graceful stop (the server's own shutdown signal)."""
        process.stop_all(self.pid_dir, owner=str(self.root))
        self.pid = None

    def kill(self) -> None:
        """Crash: SIGKILL, no shutdown work."""
        if self.pid is not None:
            process.stop([(self.pid, signal.SIGKILL)], timeout=5.0)
        self.stop()

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class RedisServer(_Server):
    name: str = "redis-1"

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def _spec(self) -> process.ProcessSpec:
        return datastores.redis_spec(
            self.name,
            bind=self.host,
            port=self.port,
            data_dir=self.root / "data",
            log_path=self.root / "redis.log",
        )

    def _wait(self) -> None:
        datastores.wait_for_redis(self.host, self.port)


@dataclass
class PostgresServer(_Server):
    name: str = "postgres-1"
    password: str = field(default_factory=lambda: secrets.token_hex(8))

    def _spec(self) -> process.ProcessSpec:
        datastores.init_postgres(self.root / "data", password=self.password)
        return datastores.postgres_spec(
            self.name,
            bind=self.host,
            port=self.port,
            data_dir=self.root / "data",
            log_path=self.root / "postgres.log",
        )

    def _wait(self) -> None:
        datastores.wait_for_postgres(self.host, self.port)

    def dsn(self, database: str = "shopnet") -> str:
        return database_url(f"{self.host}:{self.port}", self.password, database)

    @property
    def user(self) -> str:
        return DB_USER
