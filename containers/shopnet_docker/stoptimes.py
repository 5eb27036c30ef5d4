"""How long each container took to stop during `down`, from the engine's own events.

Compose stops containers itself, in parallel, so we do not see the signals go out;
the engine records them: a `kill` event (signal 15, or 9 once the grace period ran
out) and a `die` event with the exit status, both timestamped in nanoseconds. The
time from the first `kill` to the `die` is the container's drain, as `down` shows it
in every mode.
"""

from __future__ import annotations

from dataclasses import dataclass

from shopnet_docker.engine import Docker

SIGKILL = "9"


@dataclass(frozen=True, slots=True)
class Stopped:
    name: str
    seconds: float
    """From the first stop signal until the container's process exited."""
    killed: bool
    """It was still running when the grace period ended (SIGKILL)."""
    exit_code: str


def stop_times(docker: Docker, ids: list[str], *, since: float, until: float) -> list[Stopped]:
    """The containers of `ids` that were signalled and exited between `since` and `until`."""
    if not ids:
        return []
    filters = [arg for i in ids for arg in ("--filter", f"container={i}")]
    out = docker.run(
        "events", "--since", f"{since:.3f}", "--until", f"{until:.3f}",
        "--filter", "event=kill", "--filter", "event=die", *filters, "--format",
        '{{.Action}} {{.TimeNano}} {{.Actor.ID}} {{index .Actor.Attributes "name"}} '
        '{{index .Actor.Attributes "signal"}}{{index .Actor.Attributes "exitCode"}}',
        what="docker events", timeout=15, check=False,
    )  # fmt: skip
    first_kill: dict[str, int] = {}
    killed: set[str] = set()
    found = []
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) != 5 or not parts[1].isdigit():
            continue
        action, nanos, cid, name, value = parts[0], int(parts[1]), parts[2], parts[3], parts[4]
        if action == "kill":
            first_kill.setdefault(cid, nanos)
            killed |= {cid} if value == SIGKILL else set()
        elif action == "die" and cid in first_kill:
            seconds = (nanos - first_kill[cid]) / 1e9
            found.append(Stopped(name, seconds, cid in killed, value))
    return sorted(found, key=lambda s: s.name)
