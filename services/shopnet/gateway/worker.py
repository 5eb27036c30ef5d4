"""One gateway worker process (`python -m shopnet.gateway.worker`), started by the supervisor.

Its own module so that the supervisor (shopnet.gateway.workers), which the app's
`run()` calls, does not import the app back: the worker is the one place that
needs both.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal

from shopnet.common import logs
from shopnet.common.app import STOP_SIGNALS, listening_socket, serve
from shopnet.gateway.app import create_app, tune_gc
from shopnet.gateway.config import GatewayConfig
from shopnet.gateway.edge import parser_limits
from shopnet.gateway.workers import INDEX_ENV, PARENT_ENV, SIGNALS

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """Ask the kernel for SIGTERM when the supervisor dies; exit if it already has."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # it died before prctl took effect
        raise SystemExit(0)


def worker_main() -> None:
    """Entry point of one worker process."""
    _die_with_parent(int(os.environ[PARENT_ENV]))
    # SIGTERM and SIGINT stay blocked (as inherited) until serve() has its handlers: a
    # stop that arrives while the worker starts is then a drain, not a death by signal.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS - STOP_SIGNALS)

    cfg = GatewayConfig.from_env()
    logs.configure(service=cfg.service, instance_id=cfg.instance_id, level=cfg.log_level)
    index = os.environ.get(INDEX_ENV, "?")

    def tag(record: logging.LogRecord) -> bool:
        record.worker = index  # which worker logged it
        return True

    logging.getLogger().handlers[0].addFilter(tag)
    sock = listening_socket(cfg.bind, cfg.port, reuse_port=True)
    admin_sock = None
    if cfg.admin_port:
        admin_sock = listening_socket(cfg.admin_bind, cfg.admin_port, reuse_port=True)
    app = create_app(cfg)
    tune_gc()
    serve(app, cfg, sock, admin_sock=admin_sock, runner_options=parser_limits(cfg.max_header_bytes))


if __name__ == "__main__":
    worker_main()
