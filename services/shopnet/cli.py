"""The `shopnet` command: parse options, call a driver, print the result.

Every error the user can act on arrives as a ShopnetError and is printed as one
line (`shopnet: error: …`) with a distinct exit code; nothing here knows how a
mode works.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from shopnet import __version__
from shopnet.chaos import command as chaos_command
from shopnet.errors import ConfigError, ShopnetError, StateError
from shopnet.hostnet.ratelimit import Rate
from shopnet.lab import command as lab_command
from shopnet.runtime.base import DRIVERS, Driver, InstanceStatus, MissingExtra, make_driver
from shopnet.runtime.capabilities import (
    Backups,
    IsolationProbe,
    TierCapture,
    TierShaping,
    no_isolation,
    unavailable,
)
from shopnet.runtime.progress import Progress
from shopnet.runtime.scale import parse_scale
from shopnet.runtime.state import default_root
from shopnet.runtime.variant import resolve
from shopnet.topology import load
from shopnet.topology.model import Topology
from shopnet.trace import command as trace_command


def default_mode() -> str:
    """netns for root (the testbed's point), local for everyone else."""
    if os.geteuid() == 0 and all(
        importlib.util.find_spec(module) is not None for module in ("shopnet_netns", "pyroute2")
    ):
        return "netns"
    return "local"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shopnet",
        description="Run the shopnet stack on Linux namespaces, Docker or plain processes, "
        "and compare them.",
    )
    parser.add_argument("--version", action="version", version=f"shopnet {__version__}")
    _add_common(parser, defaults=True)
    # The same options after the verb too (`shopnet up -q`); there they only override.
    common = argparse.ArgumentParser(add_help=False)
    _add_common(common, defaults=False)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub = _Verbs(subparsers, common)

    def with_mode(p: argparse.ArgumentParser, default: str | None = None) -> None:
        p.add_argument(
            "--mode",
            choices=sorted(DRIVERS),
            default=default,
            help="local, netns, docker or swarm"
            + (" (default: the running stack)" if default is None else ""),
        )

    up = sub.add_parser("up", help="start the stack and wait until it is ready")
    with_mode(up, default=None)
    up.add_argument(
        "--scale", action="append", default=[], metavar="SERVICE=N",
        help="run N instances of a service, e.g. product=3 (repeatable)",
    )  # fmt: skip
    up.add_argument("--build", action="store_true", help="docker: rebuild the images first")
    up.add_argument(
        "--wiring", "--networks", dest="wiring", metavar="WIRING",
        help="netns: routed (default) or attached; docker: tiered (default) or single "
        "(`--networks single`: every service on one app-network)",
    )  # fmt: skip
    up.add_argument(
        "--hosts", type=int, default=None, metavar="N",
        help="netns: spread the instances over N simulated hosts (namespaces) joined by "
        "VXLAN (2 to 8)",
    )  # fmt: skip
    up.add_argument(
        "--discovery", choices=["registry", "dns"], default=None,
        help="how the gateway finds instances: registry (default) or dns (docker: the "
        "addresses the service name resolves to)",
    )  # fmt: skip

    down = sub.add_parser("down", help="stop and remove everything of ours (idempotent)")
    with_mode(down)
    down.add_argument("--volumes", action="store_true", help="also delete the database data")

    status = sub.add_parser(
        "status", help="one line per instance: address, pid, health, CPU, memory"
    )
    with_mode(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")

    iso = sub.add_parser(
        "isolation", help="probe every pair of instances against the allowed flows"
    )
    with_mode(iso)

    audit = sub.add_parser(
        "audit", help="probe every instance from inside: user, capabilities, namespaces, limits"
    )
    with_mode(audit)
    audit.add_argument("--json", action="store_true", help="machine-readable output")
    exec_ = sub.add_parser("exec", help="run a command where an instance runs")
    with_mode(exec_)
    exec_.add_argument("instance", help="e.g. product-1")
    exec_.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND")

    token = sub.add_parser(
        "token", help="print a token for the running stack's API (the token alone, for scripts)"
    )
    with_mode(token)
    who = token.add_mutually_exclusive_group(required=True)
    who.add_argument(
        "--admin", action="store_true", help="may change the catalog; not rate-limited"
    )
    who.add_argument("--customer", metavar="NAME", help="may place and see only NAME's orders")

    logs = sub.add_parser("logs", help="print an instance's log")
    with_mode(logs)
    logs.add_argument("instance")
    logs.add_argument("-f", "--follow", action="store_true")

    capture = sub.add_parser("capture", help="tcpdump a tier to a pcap, with a summary")
    with_mode(capture)
    capture.add_argument("tier", help="frontend, backend or database")
    limit = capture.add_mutually_exclusive_group()
    limit.add_argument("--count", type=int, help="stop after N packets")
    limit.add_argument("--seconds", type=float, help="stop after S seconds (default 10)")
    capture.add_argument(
        "-o", "--output", type=Path, help="pcap path (default: ./capture-TIER.pcap)"
    )

    netem = sub.add_parser(
        "netem", help="add delay/loss (tc netem) or a rate (tbf) to a tier's links"
    )
    with_mode(netem)
    netem.add_argument("tier")
    netem.add_argument("--delay", type=float, default=0.0, metavar="MS")
    netem.add_argument("--loss", type=float, default=0.0, metavar="PCT")
    netem.add_argument(
        "--rate", metavar="RATE", help="bandwidth per instance and direction, e.g. 10mbit (tbf)"
    )
    netem.add_argument("--clear", action="store_true", help="remove shaping")

    for verb, text in (("backup", "dump orders and products to FILE"), ("restore", "load FILE")):
        p = sub.add_parser(verb, help=text)
        with_mode(p)
        p.add_argument("file", type=Path)

    serve = sub.add_parser("serve", help="run one service in the foreground (used by every mode)")
    serve.add_argument(
        "service", help="registry, product, order, gateway, or one whose spec the runtime names"
    )

    config = sub.add_parser("config", help="the services' environment variables and defaults")
    config.add_argument("--markdown", action="store_true")

    bench = sub.add_parser("bench", help="measure local, netns and docker side by side")
    bench.add_argument(
        "--modes",
        default="local,netns,docker",
        help="comma-separated, each mode[:wiring[:discovery]][:hostsN], e.g. "
        "netns,netns:hosts2 (default: local,netns,docker)",
    )
    bench.add_argument(
        "--duration", type=float, default=None, metavar="S", help="seconds per run (5)"
    )
    bench.add_argument(
        "--connections", default=None, metavar="N,N,…",
        help="connection sweep for the main path (1,16,64,256); other runs use 64, or the largest",
    )  # fmt: skip
    bench.add_argument(
        "--repeats", type=int, default=None, help="interleaved repeats per mode (5; --quick 2)"
    )
    bench.add_argument("--scale", action="append", default=[], metavar="SERVICE=N")
    bench.add_argument("--no-peer", action="store_true", help="skip the nginx peer gateway")
    bench.add_argument(
        "--quick", action="store_true", help="a few seconds per mode, main path only"
    )
    bench.add_argument("-o", "--output", type=Path, default=None, help="results directory")
    bench.add_argument(
        "--report", type=Path, metavar="RESULTS_JSON", help="only re-render a report"
    )
    bench.add_argument(
        "--publish", type=Path, metavar="RESULTS_DIR", help="write docs/comparison.md from a run"
    )
    bench.add_argument(
        "--p99-target", type=float, default=None, metavar="MS",
        help="capacity: the highest paced rate with p99 within this (10 ms)",
    )  # fmt: skip
    bench.add_argument(
        "--ladder", action="store_true",
        help="measure the network primitives alone (loopback, veth, bridge, routed, DNAT, "
        "docker, VXLAN) with sockperf and iperf3; --quick for a short run",
    )  # fmt: skip
    bench.add_argument(
        "--ladder-results", type=Path, default=None, metavar="LADDER_JSON",
        help="a ladder run's ladder.json: the report predicts each mode's CPU per request "
        "from its hops and compares (the model)",
    )  # fmt: skip
    bench.add_argument(
        "--pin", choices=["same", "split", "none"], default=None,
        help="--ladder: probes on one core (same, default), client and server on two (split), "
        "or unpinned (none)",
    )  # fmt: skip
    bench.add_argument(
        "--rows", default=None, metavar="ROW,ROW",
        help="--ladder: only these rows (e.g. loopback,veth,bridge)",
    )  # fmt: skip
    bench.add_argument(
        "--baseline", type=Path, metavar="RESULTS_JSON",
        help="an earlier run: the CPU table shows its figures before this run's (before → after)",
    )  # fmt: skip

    cycle = sub.add_parser(
        "cycle",
        help="every mode up → main path + one order → down, N rounds in a row; nothing left after",
    )
    cycle.add_argument(
        "--modes",
        default=None,
        help="comma-separated, each mode[:wiring[:discovery]][:hostsN] (default: local, "
        "netns:routed, netns:attached, netns:hosts2, docker:tiered, docker:single, swarm)",
    )
    cycle.add_argument("--rounds", type=int, default=3, help="rounds per mode, in a row (3)")

    images = sub.add_parser("images", help="docker: build (offline by default) or list the images")
    images.add_argument("action", choices=["build", "list"])
    images.add_argument(
        "--online",
        action="store_true",
        help="build on python:3.11-slim and pull official datastores",
    )
    images.add_argument("--refresh-base", action="store_true", help="make the Debian base again")
    images.add_argument("--verify", action="store_true", help="build: twice apart, compare ids")
    images.add_argument("--packages", action="store_true", help="list: every package (SBOM)")

    compose = sub.add_parser(
        "compose", help="docker: print, write or check containers/compose.yaml"
    )
    compose_mode = compose.add_mutually_exclusive_group()
    compose_mode.add_argument("--write", action="store_true", help="regenerate the checked-in file")
    compose_mode.add_argument("--check", action="store_true", help="exit 1 when it is out of date")
    compose.add_argument(
        "--wiring", "--networks", dest="wiring", metavar="WIRING",
        help="print another wiring's file: tiered (default, the checked-in file) or single",
    )  # fmt: skip
    compose.add_argument("--discovery", choices=["registry", "dns"], default=None)

    k8s = sub.add_parser("k8s", help="render Kubernetes manifests from the topology")
    k8s.add_argument("--scale", action="append", default=[], metavar="SERVICE=N")
    k8s.add_argument("--namespace", default="shopnet", help="(default: shopnet)")
    k8s.add_argument(
        "-o", "--output", default="-", metavar="DIR|-",
        help="a directory for the files (the Secret among them, mode 0600), or - for stdout "
        "without the Secret (default: -)",
    )  # fmt: skip

    topo = sub.add_parser("topology", help="the topology: tiers, instances, allowed flows")
    topo.add_argument("--scale", action="append", default=[], metavar="SERVICE=N")
    topo.add_argument(
        "--mode", choices=sorted(DRIVERS), default=None,
        help="also show how this mode wires it (default: the running stack's, if any)",
    )  # fmt: skip
    topo.add_argument("--wiring", "--networks", dest="wiring", metavar="WIRING")
    topo.add_argument("--svg", type=Path, metavar="FILE", help="write the picture as SVG to FILE")

    dash = sub.add_parser("dashboard", help="the running stack, live, in a browser (127.0.0.1)")
    with_mode(dash)
    dash.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (8765)")
    for kind in ("bench", "chaos"):
        dash.add_argument(
            f"--{kind}-results", type=Path, default=Path(f"{kind}-results"), metavar="DIR",
            help=f"where the latest {kind} charts are looked for ({kind}-results)",
        )  # fmt: skip
    chaos_command.add_parser(sub.add_parser, with_mode)
    lab_command.add_parsers(sub.add_parser, with_mode)
    trace_command.add_parser(sub.add_parser, with_mode)
    return parser


def _add_common(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument(
        "--state-dir",
        type=Path,
        default=default(None),
        help="where stacks keep their state (default: $SHOPNET_STATE_DIR, /var/lib/shopnet "
        "as root, ~/.local/state/shopnet otherwise)",
    )
    parser.add_argument(
        "--topology", type=Path, default=default(None), help="a topology file (TOML)"
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", default=default(False), help="no progress output"
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except ShopnetError as exc:
        print(f"shopnet: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("shopnet: interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "serve":
        from shopnet.serve import run

        return run(args.service)
    if args.command == "config":
        from shopnet.docs import configuration_markdown, configuration_text

        print(configuration_markdown() if args.markdown else configuration_text(), end="")
        return 0

    topology = load(args.topology)
    root = args.state_dir or default_root()
    progress = Progress(quiet=args.quiet)

    if args.command == "topology":
        from shopnet.topology.describe import describe

        if args.svg is not None:
            from shopnet.dashboard.svg import topology_svg

            args.svg.write_text(topology_svg(topology, parse_scale(args.scale, topology)))
            return 0
        mode, wiring = args.mode, None
        if mode is None and args.wiring is None:
            running = [d for d in _drivers(topology, root, progress) if d.present()]
            if len(running) == 1:
                mode, wiring = running[0].mode, running[0].wiring
        elif mode is None:
            raise ConfigError("topology --wiring needs --mode")
        else:
            wiring = resolve(topology, mode, args.wiring, None).wiring
        scale = parse_scale(args.scale, topology)
        print(describe(topology, scale, mode=mode, wiring=wiring), end="")
        return 0
    if args.command == "k8s":
        return _k8s(args, topology)
    if args.command == "up":
        scale = parse_scale(args.scale, topology)
        mode = args.mode or default_mode()
        variant = resolve(topology, mode, args.wiring, args.discovery, args.hosts)
        driver = make_driver(mode, topology=topology, root=root, progress=progress, variant=variant)
        result = driver.up(scale=scale, build=args.build)
        progress.info(f"{driver.describe_variant()} is up: {len(result.instances)} instances")
        for note in result.notes:
            progress.info(note)
        print(f"{result.gateway_url}/api/products")
        return 0
    if args.command == "down":
        return _down(args, topology, root, progress)
    if args.command == "images":
        from shopnet_docker.images import build_images

        if args.action == "list":
            from shopnet_docker.listing import list_images, listing_lines

            print(
                "\n".join(
                    listing_lines(list_images(build_dir=root / "build"), packages=args.packages)
                )
            )
            return 0
        report = build_images(
            progress,
            offline=not args.online,
            refresh_base=args.refresh_base,
            verify=args.verify,
            build_dir=root / "build",
        )
        print("\n".join(report.lines()))
        return 0 if report.reproducible else 1
    if args.command == "compose":
        from shopnet_docker import composefile

        variant = resolve(topology, "docker", args.wiring, args.discovery)
        if (args.wiring or args.discovery) and (args.write or args.check):
            raise ConfigError("--write and --check are for the checked-in (default) file only")
        output, code = composefile.command(
            topology, write=args.write, check=args.check, variant=variant
        )
        print(output, end="")
        return code
    if args.command == "bench":
        from shopnet.bench.command import bench

        return bench(args, topology=topology, root=root, progress=progress)

    if args.command == "cycle":
        return _cycle(args, topology, progress)

    if args.command == "chaos" and (args.report or args.publish):
        return chaos_command.chaos(args, driver=None, progress=progress)
    if args.command in ("lab", "validate") and not lab_command.needs_stack(args):
        return lab_command.run_lab(args, None, progress)
    driver = _running_driver(args.mode, topology, root, progress)
    if args.command == "validate":
        return lab_command.run_validate(args, driver)
    if args.command == "lab":
        return lab_command.run_lab(args, driver, progress)
    if args.command == "chaos":
        return chaos_command.chaos(args, driver=driver, progress=progress)
    if args.command == "dashboard":
        from shopnet.dashboard.command import dashboard

        return dashboard(
            driver=driver, topology=topology, port=args.port, progress=progress,
            bench_results=args.bench_results, chaos_results=args.chaos_results,
        )  # fmt: skip
    if args.command == "status":
        rows = driver.status()
        if args.json:
            print(json.dumps([asdict(r) for r in rows], indent=2))
        else:
            print(f"# {driver.describe_variant()}")
            print(format_status(rows), end="")
        return 0 if all(r.health in {"ready", "degraded"} for r in rows) else 1
    if args.command == "trace":
        return trace_command.trace(args, driver)
    if args.command == "isolation":
        if not isinstance(driver, IsolationProbe):
            raise no_isolation(driver.mode)
        text, ok = driver.isolation()
        print(f"# {driver.describe_variant()}")
        print(text)
        return 0 if ok else 1
    if args.command == "audit":
        from shopnet.audit import audit, format_table

        audits = audit(driver)
        if args.json:
            print(json.dumps([a.as_dict() for a in audits], indent=2))
        else:
            print(format_table(audits))
        return 0
    if args.command == "exec":
        argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        if not argv:
            raise ConfigError("exec needs a command: shopnet exec INSTANCE -- COMMAND")
        progress.info(f"shopnet exec: {argv[0]} {driver.exec_note(args.instance, argv)}")
        return driver.exec(args.instance, argv)
    if args.command == "logs":
        return driver.logs(args.instance, follow=args.follow)
    if args.command == "token":
        from shopnet.runtime import tokens
        from shopnet.runtime.confine import secret_store

        print(tokens.token(secret_store(driver.layout), customer=args.customer))
        return 0
    if args.command == "capture":
        if not isinstance(driver, TierCapture):
            raise unavailable(driver.mode, "capture")
        pcap: Path = args.output or Path(f"capture-{args.tier}.pcap")
        seconds = args.seconds if args.seconds is not None or args.count else 10.0
        print(driver.capture(args.tier, count=args.count, seconds=seconds, output=pcap))
        return 0
    if args.command == "netem":
        rate = Rate.parse(args.rate) if args.rate is not None else None
        if not args.clear and args.delay <= 0 and args.loss <= 0 and rate is None:
            raise ConfigError("netem needs --delay MS, --loss PCT and/or --rate RATE, or --clear")
        if not isinstance(driver, TierShaping):
            raise unavailable(driver.mode, "netem")
        print(
            driver.netem(
                args.tier, delay_ms=args.delay, loss_pct=args.loss, clear=args.clear, rate=rate
            )
        )
        return 0
    if args.command in ("backup", "restore"):
        if not isinstance(driver, Backups):
            raise unavailable(driver.mode, args.command, "it keeps no data of its own")
        verb = driver.backup if args.command == "backup" else driver.restore
        print(verb(args.file))
        return 0
    raise ConfigError(f"unknown command {args.command}")  # pragma: no cover - argparse prevents it


class _Verbs:
    """The verbs' subparsers; each verb takes the common options after it too."""

    def __init__(
        self,
        subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
        common: argparse.ArgumentParser,
    ) -> None:
        self._subparsers = subparsers
        self._common = common

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return self._subparsers.add_parser(name, parents=[self._common], **kwargs)


def _k8s(args: argparse.Namespace, topology: Topology) -> int:
    import shopnet_k8s
    from shopnet_k8s.render import secret_note

    manifests = shopnet_k8s.render(
        topology, namespace=args.namespace, scale=parse_scale(args.scale, topology)
    )
    if args.output == "-":
        print(manifests.stream(), end="")
        print(f"shopnet: {secret_note(topology, manifests)}", file=sys.stderr)
        return 0
    for path in shopnet_k8s.write(topology, manifests, Path(args.output)):
        print(path)
    return 0


def _drivers(topology: Topology, root: Path, progress: Progress) -> list[Driver]:
    """Every mode's driver that can be loaded here (docker without a client is skipped)."""
    drivers = []
    for mode in DRIVERS:
        try:
            drivers.append(make_driver(mode, topology=topology, root=root, progress=progress))
        except MissingExtra:
            continue
    return drivers


def _running_driver(mode: str | None, topology: Topology, root: Path, progress: Progress) -> Driver:
    if mode is not None:
        return make_driver(mode, topology=topology, root=root, progress=progress)
    running = [d for d in _drivers(topology, root, progress) if d.present()]
    if not running:
        raise StateError("no stack is running (start one with `shopnet up`)")
    if len(running) > 1:
        modes = ", ".join(d.mode for d in running)
        raise ConfigError(f"stacks are running in several modes ({modes}); pick one with --mode")
    return running[0]


def _down(args: argparse.Namespace, topology: Topology, root: Path, progress: Progress) -> int:
    from shopnet.bench import leftovers as bench_leftovers
    from shopnet.bench.ladder.run import remove_leftovers

    for item in remove_leftovers():  # a killed `bench --ladder`'s, found by its tag
        progress.info(f"  removed ladder {item}")
    for item in bench_leftovers.remove(topology, progress):  # a killed `bench`'s stacks
        progress.info(f"  removed {item}")
    drivers = (
        [make_driver(args.mode, topology=topology, root=root, progress=progress)]
        if args.mode
        else [
            d
            for d in _drivers(topology, root, progress)
            if d.present() or (args.volumes and d.has_data())
        ]
    )
    for item in trace_command.cleanup_after_down(topology.prefix):
        progress.info(f"  removed {item} (left by a killed trace)")
    if not drivers:
        progress.info("nothing of ours is running")
        return 0
    failed = False
    for driver in drivers:
        with progress.step(f"removing the {driver.mode} stack"):
            result = driver.down(volumes=args.volumes)
        for item in result.removed:
            progress.info(f"  removed {item}")
        for problem in result.problems:
            progress.warn(problem)
            failed = True
    return 1 if failed else 0


def format_status(rows: list[InstanceStatus]) -> str:
    headers = (
        "SERVICE",
        "INSTANCE",
        "WHERE",
        "HOST",
        "ADDRESS",
        "PID",
        "HEALTH",
        "CPU%",
        "MEM MiB",
        "RESTARTS",
        "LAST EXIT",
        "LISTENING",
    )
    table: list[tuple[str, ...]] = [headers]
    for r in rows:
        table.append(
            (
                r.service,
                r.instance,
                r.where or "-",
                r.host,
                r.address,
                str(r.pid) if r.pid else "-",
                r.health,
                f"{r.cpu_percent:.1f}" if r.cpu_percent is not None else "-",
                f"{r.memory_mb:.0f}" if r.memory_mb is not None else "-",
                str(r.restarts) + (f" ({r.supervision})" if r.supervision == "gave up" else ""),
                r.last_exit or "-",
                ",".join(r.listening) or "-",
            )
        )
    if not any(r.host for r in rows):  # a single host: no HOST column
        table = [row[:3] + row[4:] for row in table]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        + "\n"
        for row in table
    )


def _cycle(args: argparse.Namespace, topology: Topology, progress: Progress) -> int:
    """`shopnet cycle`: its own state directory (like the bench's), removed afterwards."""
    import shutil
    import tempfile

    from shopnet import cycle

    if not 1 <= args.rounds <= 10:
        raise ConfigError("--rounds must be between 1 and 10")
    modes = cycle.parse_modes(args.modes, topology) if args.modes else cycle.DEFAULT_MODES
    own_root = Path(tempfile.mkdtemp(prefix="shopnet-cycle-"))
    own_root.chmod(0o755)  # the datastores run as their own users
    try:
        report = cycle.run(modes, args.rounds, topology=topology, root=own_root, progress=progress)
    finally:
        shutil.rmtree(own_root, ignore_errors=True)
    print(cycle.table(report), end="")
    return 0 if report.ok else 1
