"""The nginx peer's configuration, checked by nginx itself with a real admin token."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from shopnet.bench import nginx
from shopnet.common import identity

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None, reason="needs nginx")


def test_the_peer_config_with_a_real_admin_token_is_valid(tmp_path: Path) -> None:
    # The token makes the map's key longer than nginx's default hash bucket: without a
    # bucket sized for it nginx refuses to start ("could not build map_hash").
    token = identity.issue(identity.new_key())
    text = nginx.render(
        listen="127.0.0.1:8099",
        products=["127.0.0.1:1", "127.0.0.1:2"],
        orders=["127.0.0.1:3"],
        prefix=tmp_path,
        admin_token=token,
    )
    conf = nginx.prepare(tmp_path, text)
    out = subprocess.run(
        ["nginx", "-t", "-c", str(conf), "-p", str(tmp_path)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
