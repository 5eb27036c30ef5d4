"""Small synchronous HTTP probes for the CLI (readiness waits, status), standard library only."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

# Everything we probe is our own stack on this machine: never go through a proxy
# that http_proxy/https_proxy in the environment might name.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get_json(url: str, *, timeout: float = 1.0, ok_only: bool = False) -> Any:
    """The JSON body at `url`, or None when unreachable (or not 2xx, with `ok_only`).

    Error statuses with a JSON body (e.g. /ready's 503) are returned unless `ok_only`.
    """
    try:
        with _OPENER.open(url, timeout=timeout) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        if ok_only:
            return None
        try:
            return json.loads(exc.read() or b"null")
        except ValueError:
            return None
    except (OSError, ValueError):
        return None
