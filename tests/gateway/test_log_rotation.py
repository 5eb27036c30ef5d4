"""Service logs rotate by size: a process whose stderr is a file rotates it itself, and a
second process sharing the file (gateway workers) follows instead of rotating again."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = """
import logging, os, sys, time
from shopnet.common import logs
logs.configure(service="t", instance_id=sys.argv[1], max_bytes=4000, backups=2)
open(sys.argv[2] + "." + sys.argv[1], "w").close()
while not os.path.exists(sys.argv[2]):  # both configured (as workers are) before logging
    time.sleep(0.01)
for n in range(400):
    logging.getLogger("t").warning("line %d", n)
print("plain stdout after rotating", flush=True)
"""


def run(go: Path, name: str, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", SCRIPT, name, str(go)], stdout=out, stderr=subprocess.STDOUT
        )


def test_a_log_file_rotates_by_size_and_keeps_n_backups(tmp_path: Path) -> None:
    logs_dir = tmp_path / "logs"
    logs_dir.mkdir()
    log, go = logs_dir / "svc.log", tmp_path / "go"
    procs = [run(go, f"p{n}", log) for n in range(2)]
    until_ready = [tmp_path / f"go.p{n}" for n in range(2)]
    deadline = time.monotonic() + 30
    while not all(p.exists() for p in until_ready):
        assert time.monotonic() < deadline, "the writers did not start"
        time.sleep(0.02)
    go.touch()
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    files = sorted(p.name for p in logs_dir.iterdir())
    assert files == ["svc.log", "svc.log.1", "svc.log.2"]
    for path in logs_dir.iterdir():
        assert path.stat().st_size < 4000 + 2000, path  # a size past the limit, then rotated
        for line in path.read_text().splitlines():
            if line.startswith("{"):
                assert json.loads(line)["level"] == "warning"
    # The newest lines are kept; plain stdout followed the rotations. (A writer learns of
    # another's rotation at its next record, so which file holds what varies.)
    kept = "".join(p.read_text() for p in logs_dir.iterdir())
    assert '"line 399"' in kept
    assert "plain stdout after rotating" in kept
