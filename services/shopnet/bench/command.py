"""The `shopnet bench` verb: options → BenchOptions → run → report."""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import time
from pathlib import Path
from typing import Any

from shopnet.bench import leftovers, publish, write_outputs
from shopnet.bench.results import Results
from shopnet.bench.runner import Bench, BenchOptions
from shopnet.errors import ConfigError, DriverError, PreflightError
from shopnet.runtime import variant
from shopnet.runtime.base import DRIVERS
from shopnet.runtime.progress import Progress
from shopnet.runtime.scale import parse_scale
from shopnet.topology.model import Topology


def record_name(chosen: variant.ModeVariant, topology: Topology) -> str:
    """How results name a variant: the bare mode for its default (so earlier results and
    the mode ratios still match), else `mode:wiring[:discovery]`."""
    default = variant.resolve(topology, chosen.mode, None, None)
    return chosen.mode if chosen.variant == default else chosen.label


def options_from(args: argparse.Namespace, topology: Topology) -> BenchOptions:
    entries = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in entries if m.partition(":")[0] not in DRIVERS]
    if unknown or not entries:
        raise ConfigError(
            f"--modes {args.modes!r}: choose from {', '.join(DRIVERS)}, each optionally "
            "with :wiring[:discovery] and, for netns, :hostsN (e.g. "
            "netns:attached,docker:single:dns,netns:hosts2)"
        )
    # Checked against the topology now, not when the bench reaches that mode.
    modes = tuple(record_name(variant.parse(m, topology), topology) for m in entries)
    overrides: dict[str, Any] = {"modes": modes, "peer": not args.no_peer}
    if args.scale:
        overrides["scale"] = parse_scale(args.scale, topology)
    if args.duration is not None:
        if not 0.5 <= args.duration <= 600:
            raise ConfigError("--duration must be between 0.5 and 600 seconds")
        overrides["duration_s"] = args.duration
    if args.repeats is not None:
        if not 1 <= args.repeats <= 20:
            raise ConfigError("--repeats must be between 1 and 20")
        overrides["repeats"] = args.repeats
    if getattr(args, "p99_target", None) is not None:
        if not 0.1 <= args.p99_target <= 10000:
            raise ConfigError("--p99-target must be between 0.1 and 10000 ms")
        overrides["p99_target_ms"] = args.p99_target
    if args.connections:
        try:
            sweep = tuple(sorted({int(c) for c in args.connections.split(",") if c.strip()}))
        except ValueError:
            raise ConfigError(
                f"--connections {args.connections!r}: expected numbers like 1,16,64"
            ) from None
        if not sweep or sweep[0] < 1 or sweep[-1] > 10000:
            raise ConfigError("--connections: each count must be between 1 and 10000")
        overrides["sweep"] = sweep
        overrides["connections"] = 64 if 64 in sweep else sweep[-1]
    return BenchOptions.quick(**overrides) if args.quick else BenchOptions(**overrides)


def bench(args: argparse.Namespace, *, topology: Topology, root: Path, progress: Progress) -> int:
    """`root` (the person's state directory) is deliberately unused: the bench runs its
    stacks in a state directory of its own, with a fresh data set every run."""
    if importlib.util.find_spec("matplotlib") is None:  # before any work, not at the charts
        raise PreflightError(
            "shopnet bench draws charts with matplotlib: install the `bench` extra "
            "(pip install 'shopnet[bench]')"
        )
    if args.ladder:
        return ladder(args, progress=progress)
    baseline = _baseline(args.baseline)
    ladder_data = _ladder_results(getattr(args, "ladder_results", None))
    if args.report:
        results = Results.load(args.report)
        if baseline:
            results.meta["baseline"] = baseline
        if ladder_data:
            results.meta["ladder"] = ladder_data
        if baseline or ladder_data:
            results.save()
        paths = write_outputs(results)
        print(paths["report"])
        return 0
    if args.publish:
        print(publish(args.publish, Path("docs")))
        return 0
    options = options_from(args, topology)
    output = args.output or Path("bench-results") / time.strftime("%Y%m%d-%H%M%S")
    progress.info(f"bench: modes {', '.join(options.modes)}; results in {output}")
    for item in leftovers.remove(topology, progress):  # a killed earlier bench's
        progress.info(f"  removed {item}")
    own_root = leftovers.own_root()
    runner = Bench(options, topology=topology, root=own_root, progress=progress, output=output)
    if baseline:
        runner.results.meta["baseline"] = baseline
    if ladder_data:
        runner.results.meta["ladder"] = ladder_data
    try:
        results = runner.run()
    finally:
        shutil.rmtree(own_root, ignore_errors=True)
        # Whatever was measured before a failure or ^C still gets its report.
        if runner.results.runs:
            paths = write_outputs(runner.results)
            progress.info(f"report: {paths['report']}")
    print(results.directory / "report.md")
    if broken := results.broken_stock():
        raise DriverError(
            "the limited-stock orders do not add up to the stock given in "
            + ", ".join(f"{r.mode} (repeat {r.repeat})" for r in broken)
            + "; see the report"
        )
    return 0


def ladder(args: argparse.Namespace, *, progress: Progress) -> int:
    """`shopnet bench --ladder`: the primitives alone (shopnet.bench.ladder)."""
    from shopnet.bench.ladder import write_outputs as write_ladder
    from shopnet.bench.ladder.run import Ladder, LadderOptions

    overrides: dict[str, object] = {}
    if args.repeats is not None:
        if not 1 <= args.repeats <= 20:
            raise ConfigError("--repeats must be between 1 and 20")
        overrides["repeats"] = args.repeats
    if args.duration is not None:
        if not 1.0 <= args.duration <= 60:
            raise ConfigError("--ladder --duration must be between 1 and 60 seconds")
        overrides["ping_s"] = args.duration
    if getattr(args, "pin", None):
        overrides["pin"] = args.pin
    if args.rows:
        overrides["rows"] = tuple(r.strip() for r in args.rows.split(",") if r.strip())
    options = LadderOptions.short(**overrides) if args.quick else LadderOptions(**overrides)  # type: ignore[arg-type]
    output = args.output or Path("bench-results") / time.strftime("ladder-%Y%m%d-%H%M%S")
    data = Ladder(options, output=output, progress=progress).run()
    print(write_ladder(data, output))
    return 0


def _ladder_results(path: Path | None) -> dict[str, Any] | None:
    """A ladder run's figures (`--ladder-results`), read before anything starts."""
    if path is None:
        return None
    import json

    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or "samples" not in data:
            raise ValueError("no ladder samples")
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--ladder-results {path}: not a ladder.json ({exc})") from None
    return data


def _baseline(path: Path | None) -> dict[str, Any] | None:
    """The CPU figures of an earlier run (`--baseline`), read before anything starts."""
    if path is None:
        return None
    from shopnet.bench.cpu_report import baseline_of

    try:
        return baseline_of(Results.load(path), str(path))
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"--baseline {path}: {exc}") from None
