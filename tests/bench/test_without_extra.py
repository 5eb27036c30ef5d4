"""`shopnet bench` without the `bench` extra stops before any work, in one line."""

from __future__ import annotations

import subprocess
import sys
import time

# sys.modules[name] = None is how Python marks a module as not importable.
WITHOUT_MATPLOTLIB = (
    "import sys; sys.modules['matplotlib'] = None\n"
    "from shopnet.cli import main\n"
    "sys.exit(main(['bench', '--quick', '--modes', 'local']))\n"
)


def test_bench_names_the_missing_extra_and_starts_nothing() -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_MATPLOTLIB], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("shopnet: error:") and "`bench` extra" in result.stderr
    assert result.stdout == ""
    assert time.monotonic() - started < 30  # no stack was started
