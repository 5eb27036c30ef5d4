"""One traced probe on a driver that can be traced: clean up what a killed trace left, then
trace. Shared by the command, the dashboard and the teaching page."""

from __future__ import annotations

from shopnet.errors import ConfigError
from shopnet.runtime.base import Driver
from shopnet.trace import session
from shopnet.trace.route import Traceable
from shopnet.trace.walk import Walk

LOOPBACK_LINE = (
    "local mode: every instance is a process on 127.0.0.1; between processes on loopback "
    "there is no namespace, bridge, route or firewall to trace"
)


def run_trace(driver: Driver, source: str, target: str, port: int | None) -> Walk:
    if not isinstance(driver, Traceable):
        raise ConfigError(LOOPBACK_LINE)
    route = driver.trace_route(source, target, port)
    prefix = driver.trace_prefix()
    session.cleanup(prefix, driver.trace_places())
    return session.trace(route, prefix)
