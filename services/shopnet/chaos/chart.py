"""The PNG timeline: successes and failures per second, one panel per scenario and mode,
the fault marked (a line for a signal, a band for a netem fault while it lasted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from shopnet.chaos.report import ordered
from shopnet.chaos.results import ScenarioResult

NAME = "timeline.png"
NO_MATPLOTLIB = (
    "chaos: no chart (matplotlib is missing: install the `bench` extra, "
    "pip install 'shopnet[bench]'); results.json and report.md are written"
)


def available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def timeline(results: list[ScenarioResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    shown = ordered(results)
    fig, axes = plt.subplots(
        len(shown), 1, figsize=(9, 2.2 * len(shown) + 0.6), squeeze=False, sharex=True
    )
    for ax, r in zip(axes[:, 0], shown, strict=True):
        t = r.timeline["t"]
        ax.step(t, r.timeline["ok"], where="post", label="ok/s", color="tab:blue")
        ax.step(t, r.timeline["failed"], where="post", label="failed/s", color="tab:red")
        if r.lifted_at > r.fault_at:
            ax.axvspan(r.fault_at, r.lifted_at, color="tab:orange", alpha=0.25, label="fault")
        else:
            ax.axvline(r.fault_at, color="tab:orange", linestyle="--", label="fault")
        ax.set_title(f"{r.mode}: {r.scenario} — {r.what}", fontsize=9, loc="left")
        ax.set_ylabel("req/s")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("seconds since the load started")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
