"""The OpenAPI document is the contract: schemathesis, driven by /api/openapi.json, runs
every check in every phase (examples, coverage, fuzzing, stateful) against a running
stack, and finds nothing.

The stack is the test's own (local mode, a private state dir, `down --volumes` after), so
the generated DELETEs never touch anyone's data. Bounded: a fixed seed, a few examples per
operation and a time budget, so it stays within a few minutes on two cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import scratch_dir
from tests.support.stack import shopnet

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
GATEWAY = "http://127.0.0.1:8080"
# Small on purpose: the coverage phase already walks every boundary of every schema.
MAX_EXAMPLES = int(os.environ.get("SHOPNET_CONTRACT_EXAMPLES", "25"))
MAX_SECONDS = int(os.environ.get("SHOPNET_CONTRACT_SECONDS", "150"))


@pytest.fixture(scope="module")
def stack() -> Iterator[Path]:
    root = scratch_dir("shopnet-contract-")
    try:
        shopnet(root, "up", "--mode", "local")
        yield root
    finally:
        shopnet(root, "down", "--mode", "local", "--volumes", check=False)


def test_the_api_matches_its_openapi_document(stack: Path, tmp_path: Path) -> None:
    st = Path(sys.executable).with_name("st")
    result = subprocess.run(
        [
            str(st),
            "--no-color",
            "--config-file",
            str(HERE / "schemathesis.toml"),
            "run",
            f"{GATEWAY}/api/openapi.json",
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--max-time",
            str(MAX_SECONDS),
            "--seed",
            "20261129",
            "--workers",
            "1",
            "--request-timeout",
            "10",
            "--generation-deterministic",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=MAX_SECONDS + 120,
        env={**os.environ, "NO_PROXY": "127.0.0.1", "SCHEMATHESIS_HOOKS": ""},
        check=False,
    )
    report = result.stdout[-20000:] + result.stderr[-5000:]
    assert result.returncode == 0, report
    assert "No issues found" in result.stdout or " passed" in result.stdout, report
