"""Capture a tier's traffic with tcpdump on its bridge, to a pcap, and summarise it.

The bridge sees every frame between the tier's instances and the host, so one
capture point shows a whole tier. `-Z root` keeps tcpdump from switching to
Debian's `tcpdump` user before it opens the output file (which may live where
that user cannot write); `-U` flushes each packet so a stopped capture is
complete. `Capture.start` returns once tcpdump reports it is listening, so a
caller can start a capture, then cause traffic, and miss nothing.
"""

from __future__ import annotations

import contextlib
import select
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from shopnet.errors import ConfigError, DriverError
from shopnet.hostnet import tools
from shopnet.hostnet.pcapsummary import Summary, summarize

READY_TIMEOUT = 10.0


@dataclass(slots=True)
class Capture:
    """A running tcpdump; stop it with `wait()` or `stop()`."""

    interface: str
    output: Path
    seconds: float | None
    process: subprocess.Popen[bytes]
    started: float

    @classmethod
    def start(
        cls,
        interface: str,
        output: Path,
        *,
        count: int | None = None,
        seconds: float | None = None,
        snaplen: int = 262144,
    ) -> Capture:
        if count is None and seconds is None:
            raise ConfigError("a capture needs --count N or --seconds S (or both)")
        if count is not None and count < 1:
            raise ConfigError("--count must be at least 1")
        if seconds is not None and seconds <= 0:
            raise ConfigError("--seconds must be positive")
        if not Path("/sys/class/net", interface).exists():
            raise ConfigError(f"no interface {interface} (is the network built?)")
        output.parent.mkdir(parents=True, exist_ok=True)
        argv = [tools.binary("tcpdump"), "-i", interface, "-w", str(output), "-n", "-U"]
        argv += ["-Z", "root", "-s", str(snaplen)]
        if count is not None:
            argv += ["-c", str(count)]
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        capture = cls(interface, output, seconds, process, time.monotonic())
        capture._await_listening()
        return capture

    def _await_listening(self) -> None:
        """tcpdump writes "listening on <if>, link-type …" once its socket is bound."""
        stderr = self.process.stderr
        assert stderr is not None
        deadline = time.monotonic() + READY_TIMEOUT
        said = b""
        while (remaining := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([stderr], [], [], remaining)
            if not readable:
                break
            line = stderr.readline()
            said += line
            if b"listening on" in line:
                self.started = time.monotonic()
                return
            if not line:  # tcpdump exited
                break
        self.stop()
        raise DriverError(f"tcpdump on {self.interface} did not start: {said.decode().strip()}")

    def wait(self) -> Summary:
        """Until the packet count is reached or the time is up; then the summary."""
        timeout = None
        if self.seconds is not None:
            timeout = max(0.0, self.started + self.seconds - time.monotonic())
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=timeout)
        return self.stop()

    def stop(self) -> Summary:
        """Stop tcpdump (SIGINT: it flushes and closes the file) and summarise."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
        if not self.output.exists():
            raise DriverError(f"tcpdump wrote no file at {self.output}")
        return summarize(self.output)


def capture(
    interface: str, output: Path, *, count: int | None = None, seconds: float | None = None
) -> Summary:
    """Capture on `interface` (a tier bridge) into `output` until count/seconds; summarise."""
    return Capture.start(interface, output, count=count, seconds=seconds).wait()
