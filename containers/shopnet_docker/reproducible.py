"""Comparing two builds of one image: which layers differ, and which files inside them.

A diffoscope-style summary, enough to find the cause: per differing layer, each file
only in one build, and each file whose size, mode, owner, time or content differs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shopnet_docker.imagefiles import Entry, Exported, image_id, listing, normalised_config

MAX_FILES = 40
"""Files listed per differing layer: the first few are enough to find the cause."""


@dataclass(frozen=True, slots=True)
class LayerDiff:
    index: int
    first: str
    second: str
    files: tuple[str, ...]
    """One line per differing file: `- path`, `+ path`, `~ path: before -> after`."""


@dataclass(frozen=True, slots=True)
class Comparison:
    image: str
    first_id: str
    second_id: str
    layers: tuple[LayerDiff, ...]
    config: tuple[str, ...]
    """Config fields that differ (beyond the layer digests they list)."""

    @property
    def identical(self) -> bool:
        return self.first_id == self.second_id

    def lines(self) -> list[str]:
        if self.identical:
            return [f"{self.image:<32} identical  sha256:{self.first_id[:12]}"]
        out = [
            f"{self.image:<32} DIFFERENT  sha256:{self.first_id[:12]} vs sha256:{self.second_id[:12]}"
        ]
        out += [f"  config {line}" for line in self.config]
        for layer in self.layers:
            out.append(f"  layer {layer.index}: {layer.first[:19]} vs {layer.second[:19]}")
            out += [f"    {line}" for line in layer.files]
        return out


def compare(image: str, first: Exported, second: Exported) -> Comparison:
    configs = [json.loads(normalised_config(e.config_bytes)) for e in (first, second)]
    ids = [image_id(normalised_config(e.config_bytes)) for e in (first, second)]
    layers = []
    digests = [[layer["digest"] for layer in e.manifest["layers"]] for e in (first, second)]
    for index, (a, b) in enumerate(zip(*digests, strict=False)):
        if a != b:
            files = file_diff(listing(first.layers[index]), listing(second.layers[index]))
            layers.append(LayerDiff(index, a, b, tuple(files)))
    if len(digests[0]) != len(digests[1]):
        layers.append(LayerDiff(-1, f"{len(digests[0])} layers", f"{len(digests[1])} layers", ()))
    config = [
        line for line in _json_diff(configs[0], configs[1], "") if not line.startswith(".rootfs")
    ]
    return Comparison(image, ids[0], ids[1], tuple(layers), tuple(config))


def file_diff(first: dict[str, Entry], second: dict[str, Entry]) -> list[str]:
    lines = []
    for name in sorted(first.keys() | second.keys()):
        a, b = first.get(name), second.get(name)
        if a == b:
            continue
        if b is None and a is not None:
            lines.append(f"- {name}: {a.describe()}")
        elif a is None and b is not None:
            lines.append(f"+ {name}: {b.describe()}")
        elif a is not None and b is not None:
            lines.append(f"~ {name}: {a.describe()} -> {b.describe()}")
    if len(lines) > MAX_FILES:
        lines = [*lines[:MAX_FILES], f"… and {len(lines) - MAX_FILES} more"]
    return lines


def _json_diff(a: Any, b: Any, path: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            line for key in sorted(a.keys() | b.keys())
            for line in _json_diff(a.get(key), b.get(key), f"{path}.{key}")
        ]  # fmt: skip
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            line
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for line in _json_diff(x, y, f"{path}[{i}]")
        ]
    return [] if a == b else [f"{path}: {json.dumps(a)[:80]} -> {json.dumps(b)[:80]}"]
