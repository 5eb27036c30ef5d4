"""`shopnet bench`: bring each mode up in turn, run the same workloads, tear it down.

Repeats are interleaved (local netns docker local netns docker …) so slow drift
of the machine (thermal, page cache, other load) hits every mode alike; the
report uses the median over repeats. Every run is recorded as it finishes, so
an interrupted bench still leaves its figures in results.json.

A mode may name its variant, `netns:attached` or `docker:single:dns`
(shopnet.runtime.variant): each is one more entry of the interleaved loop, and
a mode's default variant is recorded under the bare mode name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shopnet.bench import (
    calibration,
    capacity,
    cpu,
    gateways,
    leftovers,
    lifecycle,
    nginx,
    noise,
    orders,
)
from shopnet.bench.results import Results, RunRecord
from shopnet.bench.targets import PRODUCT_WORKLOADS, Target, find, plan_targets
from shopnet.bench.wrk import WORKLOADS, WrkResult, WrkRun
from shopnet.errors import ShopnetError
from shopnet.runtime import tokens, variant
from shopnet.runtime.base import DRIVERS, Driver, InstanceStatus, make_driver
from shopnet.runtime.capabilities import CacheFlushing, HelperProcesses, IsolationProbe
from shopnet.runtime.confine import secret_store
from shopnet.runtime.progress import Progress
from shopnet.topology.model import Topology

"""The bench's stacks carry their own prefix (compose project, namespaces, tables, markers):
teardown finds objects by prefix, so with the person's `shopnet` its `down --volumes` would
remove their stack and data. Fixed resources it shares with theirs (port 8080, the tier
subnets) stop it at preflight, with one line, before anything changes."""


@dataclass(frozen=True, slots=True)
class BenchOptions:
    modes: tuple[str, ...] = tuple(DRIVERS)
    duration_s: float = 5.0
    connections: int = 64
    """Connections for every run except the sweep."""
    sweep: tuple[int, ...] = (1, 16, 64, 256)
    """Connection counts for the main path's cache-hit workload."""
    repeats: int = 5
    """Five at least: fewer give intervals too wide to judge a 5–10 % target."""
    threads: int = 1
    workloads: tuple[str, ...] = WORKLOADS
    scale: dict[str, int] = field(default_factory=lambda: {"product": 2})
    peer: bool = True
    """Measure nginx in the gateway's place (in the modes whose driver can run it)."""
    paced_fraction: float = 0.5
    """Open-loop run at this fraction of the measured closed-loop maximum."""
    main_only: bool = False
    """Only the main path (the quick smoke run)."""
    capacity_steps: int = 6
    """Paced runs per capacity search (bisection: the last step halves a 1/32 interval)."""
    p99_target_ms: float = capacity.P99_TARGET_MS
    """Capacity is the highest paced rate with p99 ≤ this and no failed request."""
    limited_stock: bool = True
    """Order against limited stock on the main path and check it is never oversold (~3 s: a 2 s run and 1 s to settle)."""

    @classmethod
    def quick(cls, **overrides: Any) -> BenchOptions:
        base: dict[str, Any] = {
            "duration_s": 1.0,
            "sweep": (16,),
            "connections": 16,
            "repeats": 2,  # the fewest that still give an interval
            "main_only": True,
            "capacity_steps": 3,
        }
        base.update(overrides)
        return cls(**base)


class Bench:
    def __init__(
        self,
        options: BenchOptions,
        *,
        topology: Topology,
        root: Path,
        progress: Progress,
        output: Path,
    ) -> None:
        self.options = options
        self.topology = dataclasses.replace(topology, prefix=leftovers.PREFIX)
        self.root = root
        self.progress = progress
        self.results = Results.start(output, options)
        self._token_file = ""
        """The running mode's admin token file (made per mode in _measure)."""

    def run(self) -> Results:
        opts = self.options
        # Docker runs a health-check command in every container every interval (~50 ms of
        # dockerd CPU each): load the other modes do not carry. `up` no longer waits for
        # Docker's checks (shopnet_docker.health), so a long interval costs no start-up time.
        os.environ.setdefault("SHOPNET_HEALTH_INTERVAL", "30s")
        self.results.meta["docker_health_interval"] = os.environ["SHOPNET_HEALTH_INTERVAL"]
        # Other work on the machine makes every figure lower and noisier: the report warns.
        self.results.meta["load_before"] = noise.load_before()
        self.results.save()
        for repeat in range(1, opts.repeats + 1):
            for mode in opts.modes:
                label = f"[repeat {repeat}/{opts.repeats}] {mode}"
                chosen = variant.parse(mode, self.topology)  # `netns:attached` → netns, attached
                driver = make_driver(
                    chosen.mode,
                    topology=self.topology,
                    root=self.root,
                    progress=self.progress,
                    variant=chosen.variant,
                )
                if driver.present():  # a killed earlier bench's: the prefix is the bench's own
                    self.progress.warn(f"{mode}: removing what an earlier bench left")
                    driver.down(volumes=True)
                started = time.monotonic()
                try:
                    with self.progress.step(f"{label}: starting the stack"):
                        driver.up(scale=opts.scale)
                except BaseException:
                    # A failed `up` keeps its volumes (a person's data); the bench's are its
                    # own, and one left behind would stop the next bench (its password is in
                    # this run's state directory only).
                    with contextlib.suppress(ShopnetError):
                        driver.down(volumes=True)
                    raise
                up_s = time.monotonic() - started
                try:
                    self._measure(driver, mode, repeat, label)
                    if repeat == 1:
                        self._audit(driver, mode)
                        self._matrix(driver, mode)
                finally:
                    started = time.monotonic()
                    with self.progress.step(f"{label}: removing the stack"):
                        driver.down(volumes=True)  # the next repeat seeds a fresh data set
                    down_s = time.monotonic() - started
                lifecycle.record(self.results, mode, repeat, up_s=up_s, down_s=down_s)
        self.results.finish()
        return self.results

    def _audit(self, driver: Driver, mode: str) -> None:
        """The report's "Isolation, measured" rows: `shopnet audit` of the running stack."""
        from shopnet.audit import audit

        try:
            rows = [a.as_dict() for a in audit(driver)]
        except ShopnetError as exc:
            self.progress.warn(f"{mode}: audit failed: {exc}")
            return
        self.results.meta.setdefault("isolation", {})[mode] = rows
        self.results.save()

    def _matrix(self, driver: Driver, mode: str) -> None:
        """The wiring section's isolation matrices: `shopnet isolation` of the running stack
        (what a single app-network lets through that the tiers deny is the lesson)."""
        if not isinstance(driver, IsolationProbe):
            return  # e.g. local mode: no network isolation to probe
        try:
            text, ok = driver.isolation()
        except ShopnetError as exc:
            self.progress.warn(f"{mode}: isolation probe failed: {exc}")
            return
        self.results.meta.setdefault("matrix", {})[mode] = {"text": text, "ok": ok}
        self.results.save()

    # -- one mode, one repeat -------------------------------------------------

    def _measure(self, driver: Driver, mode: str, repeat: int, label: str) -> None:
        opts = self.options
        rows = driver.status(usage=False)
        targets = plan_targets(driver, rows)
        # Every request as an admin: the gateway rate-limits customers and anonymous callers.
        self._token_file = str(tokens.admin_token_file(secret_store(driver.layout)))
        beside = driver if isinstance(driver, HelperProcesses) else None
        peer_port = beside.peer_port() if beside is not None else None
        helpers: dict[str, int] = {}  # helper processes whose CPU is counted too
        if opts.main_only:
            targets = [t for t in targets if t.main]
        elif beside is not None and peer_port is not None:
            if opts.peer:
                targets.append(self._start_peer(driver, beside, rows, peer_port, helpers))
                for name in gateways.PORT_OFFSETS:
                    peer = self._start_gateway(name, driver, beside, rows, peer_port, helpers)
                    if peer is not None:
                        targets.append(peer)
            calibration_target = self._start_calibration(
                driver, beside, rows, peer_port + 1, helpers
            )
            if calibration_target is not None:
                targets.append(calibration_target)
        for target in targets:
            self._warm_up(target)
            for workload in (w for w in opts.workloads if w in target.workloads):
                counts = (
                    opts.sweep if target.main and workload == "product_hit" else (opts.connections,)
                )
                for connections in counts:
                    # The cache-hit run of every path also says where its CPU went, component
                    # by component (the ratios compare our gateway's with nginx's, say).
                    profiled = workload == "product_hit" and connections == opts.connections
                    before = cpu.snapshot(rows, helpers) if profiled else None
                    with self._flushing(driver, rows if workload == "product_miss" else None):
                        result = self._wrk(target, workload, connections)
                    usage = (
                        cpu.per_request(before, cpu.snapshot(rows, helpers), result.requests)
                        if before
                        else {}
                    )
                    self._record(
                        mode, repeat, target, workload, connections, 0.0, result, label, usage
                    )
            if target.main and "product_hit" in opts.workloads:
                closed = self.results.last(
                    mode, repeat, target.name, "product_hit", opts.connections
                )
                if closed is not None and closed.rps > 0:
                    rate = round(closed.rps * opts.paced_fraction)
                    result = self._wrk(target, "product_hit", opts.connections, rate=rate)
                    self._record(
                        mode, repeat, target, "product_hit", opts.connections, rate, result, label
                    )
            if target.main or target.name in ("nginx", "haproxy", "caddy"):
                self._capacity(target, mode, repeat, label)
        main = next((t for t in targets if t.main), None)
        if opts.limited_stock and main is not None:
            self._limited_orders(main, mode, repeat, label)

    def _capacity(self, target: Target, mode: str, repeat: int, label: str) -> None:
        """The headline: the highest paced rate with p99 within the target, on the main
        (cache hit) and order paths, bisected under this repeat's closed-loop peak."""
        opts = self.options
        paths = ("product_hit", "order_create") if target.main else ("product_hit",)
        for workload in paths:
            if workload not in opts.workloads or workload not in target.workloads:
                continue
            peak = self.results.last(mode, repeat, target.name, workload, opts.connections)
            if peak is None:
                peak = self._wrk(target, workload, opts.connections)
            if peak.rps <= 0:
                continue

            def paced(rate: float, w: str = workload) -> WrkResult:
                return self._wrk(target, w, opts.connections, rate=rate)

            found = capacity.search(
                paced,
                peak.rps,
                target_ms=opts.p99_target_ms,
                steps=opts.capacity_steps,
            )
            cells = self.results.meta.setdefault("capacity", [])
            cells.append({"mode": mode, "repeat": repeat, "path": target.name,
                          "main": target.main, "workload": workload, **found.to_json()})  # fmt: skip
            self.results.save()
            self.progress.info(
                f"{label}: {target.name:<14} {workload:<13} carries {found.rate:,.0f} req/s at "
                f"p99 ≤ {opts.p99_target_ms:g} ms (closed-loop peak {peak.rps:,.0f})"
            )

    def _limited_orders(self, target: Target, mode: str, repeat: int, label: str) -> None:
        opts = self.options
        token = Path(self._token_file).read_text().strip()
        orders.give_stock(target.url, token)
        run_id = f"bench-limited-{int(time.time() * 1000)}"
        run = WrkRun(
            url=target.url,
            workload=orders.WORKLOAD,
            prefix=target.prefix,
            connections=opts.connections,
            threads=opts.threads,
            duration_s=orders.DURATION_S,
            id_range=orders.PRODUCT_IDS,
            run_id=run_id,
            token_file=self._token_file,
        )
        result = run.run()
        orders.settle()
        stock = orders.StockCheck(
            stock_each=orders.STOCK_EACH,
            products=len(orders.product_ids()),
            stock_left=orders.stock_left(target.url, token),
            created=result.created or 0,
            conflicts=result.conflicts or 0,
            placed=orders.orders_placed(
                target.url, token, [f"{run_id}-{t}" for t in range(1, run.thread_count + 1)]
            ),
        )
        self.results.add(
            RunRecord(
                mode=mode, repeat=repeat, path=target.name, main=True, workload=orders.WORKLOAD,
                connections=opts.connections, rate=0.0, result=result, stock=stock,
            )
        )  # fmt: skip
        verdict = "holds" if stock.holds else "BROKEN: the stock does not add up"
        self.progress.info(
            f"{label}: {target.name:<14} {orders.WORKLOAD:<13} c={opts.connections:<3} "
            f"placed {stock.placed}/{stock.given} (wrk saw {stock.created}), conflicts {stock.conflicts}, "
            f"stock left {stock.stock_left}: {verdict}"
        )

    def _wrk(self, target: Target, workload: str, connections: int, rate: float = 0.0) -> WrkResult:
        return WrkRun(
            url=target.url,
            workload=workload,
            prefix=target.prefix,
            connections=connections,
            threads=self.options.threads,
            duration_s=self.options.duration_s,
            rate=rate,
            run_id=f"bench-{int(time.time() * 1000)}",
            token_file=self._token_file,
        ).run()

    def _record(
        self,
        mode: str,
        repeat: int,
        target: Target,
        workload: str,
        connections: int,
        rate: float,
        result: WrkResult,
        label: str,
        cpu_us: dict[str, float] | None = None,
    ) -> None:
        self.results.add(
            RunRecord(
                mode=mode,
                repeat=repeat,
                path=target.name,
                main=target.main,
                workload=workload,
                connections=connections,
                rate=rate,
                result=result,
                cpu_us=cpu_us or {},
            )
        )
        paced = f" paced at {rate:.0f}/s" if rate else ""
        latency = result.corrected or result.latency
        self.progress.info(
            f"{label}: {target.name:<14} {workload:<13} c={connections:<3}{paced} "
            f"{result.rps:>8.0f} req/s  p50 {latency.p50:.2f} ms  p99 {latency.p99:.2f} ms"
            + (f"  FAILED {result.failed}" if result.failed else "")
        )

    def _warm_up(self, target: Target) -> None:
        """Fill caches and connection pools so the first measured second is not a cold start."""
        with contextlib.suppress(ShopnetError):
            WrkRun(url=target.url, workload="product_miss", prefix=target.prefix,
                   connections=8, duration_s=1.0, token_file=self._token_file).run()  # fmt: skip

    def _start_peer(
        self,
        driver: Driver,
        beside: HelperProcesses,
        rows: list[InstanceStatus],
        port: int,
        helpers: dict[str, int],
    ) -> Target:
        gateway = find(rows, "gateway-1")
        host = gateway.address.rsplit(":", 1)[0] if gateway else "127.0.0.1"
        directory = driver.layout.dir / "bench-nginx"
        conf = nginx.prepare(
            directory,
            nginx.render(
                listen=f"{host}:{port}",
                products=[r.address for r in rows if r.service == "product"],
                orders=[r.address for r in rows if r.service == "order"],
                prefix=directory,
                admin_token=Path(self._token_file).read_text().strip(),
            ),
        )
        with self.progress.step(f"starting the nginx peer on {host}:{port}"):
            helpers["nginx"] = beside.run_beside(
                "gateway-1",
                nginx.spec(instance="nginx-peer", conf=conf, log_path=directory / "nginx.log"),
            )
            _wait_port(host, port)
        return Target("nginx", f"http://{host}:{port}")

    def _start_gateway(
        self,
        name: str,
        driver: Driver,
        beside: HelperProcesses,
        rows: list[InstanceStatus],
        peer_port: int,
        helpers: dict[str, int],
    ) -> Target | None:
        """HAProxy or Caddy in the gateway's place (bench.gateways); None when it could not
        start (said in one line: the rest of the bench goes on)."""
        gateway = find(rows, "gateway-1")
        host = gateway.address.rsplit(":", 1)[0] if gateway else "127.0.0.1"
        port = peer_port + gateways.PORT_OFFSETS[name]
        upstreams = gateways.Upstreams(
            products=[r.address for r in rows if r.service == "product"],
            orders=[r.address for r in rows if r.service == "order"],
        )
        try:
            spec = gateways.prepare(
                name, driver.layout.dir / f"bench-{name}", f"{host}:{port}", upstreams
            )
            with self.progress.step(f"starting the {name} peer on {host}:{port}"):
                helpers[name] = beside.run_beside("gateway-1", spec)
                _wait_port(host, port, what=f"the {name} peer")
        except ShopnetError as exc:
            self.progress.warn(f"{name} peer not measured: {exc}")
            return None
        # The catalog's reads only: orders need a caller, and these configs name none (the
        # nginx peer's maps the bench's admin token), so every order would be a 401.
        return Target(name, f"http://{host}:{port}", only=PRODUCT_WORKLOADS)

    def _start_calibration(
        self,
        driver: Driver,
        beside: HelperProcesses,
        rows: list[InstanceStatus],
        port: int,
        helpers: dict[str, int],
    ) -> Target | None:
        """The trivial aiohttp handler beside product-1 (shopnet.bench.calibration)."""
        product = find(rows, "product-1")
        if product is None:
            return None
        host = product.address.rsplit(":", 1)[0]
        log_path = driver.layout.dir / "bench-calibration.log"
        with self.progress.step(f"starting the calibration handler on {host}:{port}"):
            helpers["calibration"] = beside.run_beside(
                "product-1",
                calibration.spec(instance="calibration", host=host, port=port, log_path=log_path),
            )
            _wait_port(host, port, what="the calibration handler")
        return Target("calibration", f"http://{host}:{port}", prefix="", only=("product_hit",))

    @contextlib.contextmanager
    def _flushing(self, driver: Driver, rows: list[InstanceStatus] | None) -> Iterator[None]:
        """Keep flushing the caches during a cache-miss run, so reads keep going to PostgreSQL.

        Only the cache users' key prefixes go (as after a restore), never FLUSHALL, the way
        the driver reaches its caches (CacheFlushing: swarm's from inside). The
        run still records X-Cache HIT/MISS counts, so the report states the real miss
        ratio rather than assuming it.
        """
        if rows is None or not isinstance(driver, CacheFlushing):
            yield
            return
        with driver.cache_flusher(rows) as flush_all:
            if flush_all is None:
                yield
                return
            stop = threading.Event()

            def keep_flushing() -> None:
                while not stop.wait(0.1):
                    flush_all()

            thread = threading.Thread(target=keep_flushing, name="cache-flusher", daemon=True)
            flush_all()
            thread.start()
            try:
                yield
            finally:
                stop.set()
                thread.join()


def _wait_port(host: str, port: int, timeout: float = 10.0, what: str = "the nginx peer") -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise ShopnetError(f"{what} did not listen on {host}:{port} in {timeout:.0f}s")


__all__ = ["PRODUCT_WORKLOADS", "Bench", "BenchOptions"]
