"""The `shopnet validate` and `shopnet lab` verbs: options, and the lines they print."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from shopnet.errors import ConfigError
from shopnet.lab import session, validate
from shopnet.lab.catalog import LABS
from shopnet.runtime.base import Driver
from shopnet.runtime.progress import Progress

LAB_ACTIONS = ("list", "start", "hint", "check", "reset")


def add_parsers(
    new_verb: Callable[..., argparse.ArgumentParser], with_mode: Callable[..., None]
) -> None:
    val = new_verb(
        "validate", help="check the topology's expectations on the running stack (exit 0/1)"
    )
    with_mode(val)
    val.add_argument(
        "--p99-bound", type=float, default=None, metavar="MS",
        help="also require the main path's p99 (300 reads, 4 connections) at most MS",
    )  # fmt: skip
    val.add_argument("--json", action="store_true", help="machine-readable output")

    lab = new_verb("lab", help="troubleshooting labs: a planted fault, hints, a checker")
    with_mode(lab)
    lab.add_argument("action", choices=LAB_ACTIONS, help="list, start NAME, hint, check or reset")
    lab.add_argument("name", nargs="?", help="the lab to start (see `shopnet lab list`)")
    lab.add_argument("--json", action="store_true", help="list: machine-readable output")


def needs_stack(args: argparse.Namespace) -> bool:
    """Whether the verb acts on a running stack; a usage error is raised first (exit 2)."""
    if args.command == "lab":
        if args.action == "start" and args.name is None:
            raise ConfigError("lab start needs a NAME (see `shopnet lab list`)")
        if args.action != "start" and args.name is not None:
            raise ConfigError(f"lab {args.action} takes no name (it acts on the running lab)")
        if args.json and args.action != "list":
            raise ConfigError("--json is for `lab list` only")
        return bool(args.action != "list")
    return True


def run_validate(args: argparse.Namespace, driver: Driver) -> int:
    outcomes = validate.validate(driver, p99_bound_ms=args.p99_bound)
    if args.json:
        print(json.dumps([{"name": o.name, "ok": o.ok, "detail": o.detail} for o in outcomes]))
    else:
        print("\n".join(o.line() for o in outcomes))
    return 0 if all(o.ok for o in outcomes) else 1


def run_lab(args: argparse.Namespace, driver: Driver | None, progress: Progress) -> int:
    if args.action == "list":
        if args.json:
            print(json.dumps([lab.as_dict() for lab in LABS], indent=2))
        else:
            width = max(len(lab.name) for lab in LABS)
            needs = {
                lab.name: lab.mode + (f" {lab.hosts} hosts" if lab.hosts > 1 else "")
                for lab in LABS
            }
            modes = max(len(need) for need in needs.values())
            for lab in LABS:
                print(f"{lab.name.ljust(width)}  {needs[lab.name].ljust(modes)}  {lab.symptom}")
        return 0
    assert driver is not None
    if args.action == "start":
        with progress.step("measuring p99 before the fault, then planting it"):
            lab, running = session.start(driver, args.name)
        print(f"lab {lab.name} started: {lab.symptom}")
        print(
            f"p99 before the fault: {running.baseline_p99_ms:.1f} ms (bound {running.bound_ms:.1f} ms); "
            "`shopnet lab hint` for a hint, `shopnet lab check` to check"
        )
        return 0
    if args.action == "hint":
        lab, number, text = session.hint(driver)
        print(f"hint {number} of {len(lab.hints)}: {text}")
        return 0
    if args.action == "check":
        lab, outcomes = session.check(driver)
        print("\n".join(o.line() for o in outcomes))
        failing = [o for o in outcomes if not o.ok]
        if failing:
            print(f"lab {lab.name}: {len(failing)} expectation(s) still fail")
            return 1
        print(f"lab {lab.name}: solved, every expectation holds")
        return 0
    with progress.step("undoing the lab's fault"):
        undone = session.reset(driver)
    print(f"lab {undone.name} reset" if undone is not None else "no lab is running")
    return 0
