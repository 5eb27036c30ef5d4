"""What the engine's event log says of our containers: how they stopped, how they last exited.

The daemon timestamps every `kill` (with its signal) and `die` (with the exit status)
in nanoseconds and keeps its recent events in memory (a few hundred). Compose stops
containers itself, in parallel, so `down` reads each container's drain from there —
first `kill` to `die` — as it shows it in every mode; and a restarted container's
State.ExitCode is 0 again, so `status` reads its last exit from its last `die`.
"""

from __future__ import annotations

from dataclasses import dataclass

from shopnet_docker.engine import Docker

SIGKILL = "9"


@dataclass(frozen=True, slots=True)
class Event:
    action: str
    """kill / die."""
    nanos: int
    container: str
    """Full container id."""
    name: str
    value: str
    """The signal of a kill, the exit status of a die."""


@dataclass(frozen=True, slots=True)
class Stopped:
    name: str
    seconds: float
    """From the first stop signal until the container's process exited."""
    killed: bool
    """It was still running when the grace period ended: a SIGKILL after a stop signal.

    A SIGKILL that comes first is ours (the sweep's `rm -f` of a crash's leftovers),
    not a container ignoring its stop signal."""
    exit_code: str


def events(docker: Docker, ids: list[str], *, since: float, until: float) -> list[Event]:
    """The `kill` and `die` events of these containers between `since` and `until`, oldest first."""
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
    found = []
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[1].isdigit():
            found.append(Event(parts[0], int(parts[1]), parts[2], parts[3], parts[4]))
    return found


def stop_times(docker: Docker, ids: list[str], *, since: float, until: float) -> list[Stopped]:
    """The containers of `ids` that were signalled and exited between `since` and `until`."""
    first_kill: dict[str, int] = {}
    killed: set[str] = set()
    found = []
    for e in events(docker, ids, since=since, until=until):
        if e.action == "kill":
            if e.container not in first_kill:
                first_kill[e.container] = e.nanos
            elif e.value == SIGKILL:
                killed.add(e.container)
        elif e.action == "die" and e.container in first_kill:
            seconds = (e.nanos - first_kill[e.container]) / 1e9
            found.append(Stopped(e.name, seconds, e.container in killed, e.value))
    return sorted(found, key=lambda s: s.name)


def last_exit_codes(docker: Docker, ids: list[str], *, until: float) -> dict[str, str]:
    """Container id → exit status of its last `die` the engine still remembers."""
    return {
        e.container: e.value
        for e in events(docker, ids, since=0, until=until)
        if e.action == "die" and e.value.lstrip("-").isdigit()
    }
