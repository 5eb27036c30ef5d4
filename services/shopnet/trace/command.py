"""`shopnet trace FROM TO [PORT]`: the command's options and its glue to a driver."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from shopnet.errors import ConfigError
from shopnet.runtime.base import Driver
from shopnet.trace import render, session
from shopnet.trace.route import HOST, OUTSIDE, Place, Traceable
from shopnet.trace.run import LOOPBACK_LINE, run_trace

__all__ = ["LOOPBACK_LINE", "add_parser", "cleanup_after_down", "run_trace", "trace"]


def add_parser(
    new_verb: Callable[..., argparse.ArgumentParser],
    with_mode: Callable[[argparse.ArgumentParser], None],
) -> None:
    trace = new_verb(
        "trace",
        help="send one probe connection and show its walk: namespaces, links, routes, "
        "netfilter rules, NAT, and why it was delivered, refused or dropped",
    )
    with_mode(trace)
    trace.add_argument(
        "source", metavar="FROM", nargs="?", help=f"an instance, `{HOST}` or `{OUTSIDE}`"
    )
    trace.add_argument("target", metavar="TO", nargs="?", help="an instance, e.g. product-1")
    trace.add_argument("port", metavar="PORT", type=int, nargs="?", help="(default: TO's port)")
    out = trace.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="machine-readable output")
    out.add_argument(
        "--markdown", type=Path, metavar="FILE", nargs="?", const=Path("docs/packet-walk.md"),
        help="ignore FROM/TO: trace outside→gateway-1, gateway-1→product-1 and a denied "
        "gateway-1→postgres-1 here and write them side by side into FILE "
        "(default docs/packet-walk.md; other modes' sections already there are kept)",
    )  # fmt: skip


def trace(args: argparse.Namespace, driver: Driver) -> int:
    if not isinstance(driver, Traceable):
        print(LOOPBACK_LINE)
        return 0
    if args.markdown is not None:
        from shopnet.trace import teaching

        teaching.write(args.markdown, driver)
        print(args.markdown)
        return 0
    if args.source is None or args.target is None:
        raise ConfigError("trace needs FROM and TO, e.g. `shopnet trace outside gateway-1`")
    walk = run_trace(driver, args.source, args.target, args.port)
    print(render.as_json(walk) if args.json else render.text(walk), end="")
    return 0


def cleanup_after_down(prefix: str) -> list[str]:
    """What `shopnet down` removes of a killed trace on the host (the stack's namespaces go
    with the stack)."""
    return session.cleanup(prefix, [Place("host", None)])
