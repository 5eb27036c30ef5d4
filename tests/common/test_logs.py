"""JSON log lines: identity, the request id from the context, extra fields, exceptions."""

from __future__ import annotations

import json
import logging

from shopnet.common.logs import JsonFormatter, request_id_var


def record(msg: str = "hello %s", *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("shopnet.demo", logging.WARNING, __file__, 1, msg, args, None)
    rec.__dict__.update(extra)
    return rec


def test_one_json_object_with_identity_and_extras() -> None:
    line = JsonFormatter(service="demo", instance_id="demo-1").format(
        record("hello %s", "world", sku="A-1", _private=1)
    )
    entry = json.loads(line)
    assert entry["msg"] == "hello world"
    assert (entry["level"], entry["logger"]) == ("warning", "shopnet.demo")
    assert (entry["service"], entry["instance"]) == ("demo", "demo-1")
    assert entry["sku"] == "A-1" and "_private" not in entry
    assert entry["ts"].endswith("Z") and "request_id" not in entry


def test_the_request_id_comes_from_the_context() -> None:
    token = request_id_var.set("req-9")
    try:
        entry = json.loads(JsonFormatter(service="s", instance_id="i").format(record("x")))
    finally:
        request_id_var.reset(token)
    assert entry["request_id"] == "req-9"


def test_exceptions_are_kept_in_the_line() -> None:
    try:
        raise ValueError("bad value")
    except ValueError:
        import sys

        rec = logging.LogRecord("l", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    entry = json.loads(JsonFormatter(service="s", instance_id="i").format(rec))
    assert "ValueError: bad value" in entry["exc"]
    assert "\n" not in JsonFormatter(service="s", instance_id="i").format(rec)
