"""The model: local's CPU per request plus what each leg's primitive adds in the ladder."""

from __future__ import annotations

import pytest

from shopnet.bench import model


def test_prediction_adds_each_legs_hop_over_loopback() -> None:
    ladder = {
        "samples": [
            {"row": "loopback", "cpu_us": 10.0},
            {"row": "published port (DNAT)", "cpu_us": 16.0},
            {"row": "docker network", "cpu_us": 17.0},
            {"row": "bridge", "cpu_us": 12.0},
        ]
    }
    found = {p.mode: p for p in model.predict(ladder, {"local": 100.0, "docker": 125.0})}
    docker = found["docker"]
    assert docker.hops_us == 6 + 7 + 7 and docker.predicted_us == 120.0
    assert docker.error == pytest.approx(120 / 125 - 1) and docker.closes
    assert found["local"].predicted_us == 100.0 and found["local"].closes
    assert "netns" not in found  # its rows were not measured: no prediction, not a guess
    assert not model.Prediction("x", ("a", "b", "c"), 1.0, 100.0, 150.0).closes
    table = "\n".join(model.lines(list(found.values())))
    assert "| docker | published port (DNAT) / docker network / docker network | +20.0 |" in table
