"""What a run is: small frozen specs whose content hash is the key of its stored result.

A run is a pure function of its :class:`RunSpec`; two specs with the same fields produce the
same result, so the results store keys runs by a hash of their canonical JSON and a rerun
skips every key it already holds. Presentation (which table row a run belongs to) is kept
out of the spec: the same Light x·cos(x) run can be a "Specialist" in one grid and a
"Transfer" in another without being trained twice.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from symact.discovery import GplearnSettings
from symact.models import ARCHITECTURES as MODEL_ARCHITECTURES
from symact.training.config import TrainConfig

# Bumped whenever a change in the code would change the result of an unchanged spec.
PROTOCOL_VERSION = 1

# Spec keys use lower-case names; the widths come from the models stage.
ARCHITECTURES: dict[str, tuple[int, ...]] = {
    name.lower(): arch.widths for name, arch in MODEL_ARCHITECTURES.items()
}


def content_key(payload: dict[str, Any]) -> str:
    """A stable key for a JSON-able payload (sorted keys, no whitespace)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class DataSpec:
    """Which rows of which dataset: a registry name or a file path, and how rows are chosen."""

    name: str
    rows: int | None = None
    subset_seed: int = 42
    target: str | None = None
    positive: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DiscoverySpec:
    """One discovery: a dataset and the gplearn settings."""

    data: DataSpec
    settings: GplearnSettings = field(default_factory=GplearnSettings)
    method: str = "gplearn"

    def key(self) -> str:
        return content_key(
            {
                "kind": "discovery",
                "method": self.method,
                "data": self.data.to_dict(),
                "settings": self.settings.identity(),
                "protocol": PROTOCOL_VERSION,
            }
        )


@dataclass(frozen=True)
class RunSpec:
    """One training run: data, architecture, activation, seed, training settings and split.

    ``activation`` is a builtin name (``relu``, ``gelu``, ``silu``) or a formula in canonical
    prefix notation, so equal activations give equal keys.
    """

    data: DataSpec
    architecture: str
    activation: str
    seed: int
    train: TrainConfig = field(default_factory=TrainConfig)
    test_size: float = 0.2

    def __post_init__(self) -> None:
        if not 0.0 < self.test_size < 1.0:
            raise ValueError(f"test_size must be in (0, 1), got {self.test_size}")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"unknown architecture {self.architecture!r}; choose one of {sorted(ARCHITECTURES)}"
            )

    @property
    def widths(self) -> tuple[int, ...]:
        return ARCHITECTURES[self.architecture]

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": self.data.to_dict(),
            "architecture": self.architecture,
            "activation": self.activation,
            "seed": self.seed,
            "train": asdict(self.train),
            "test_size": self.test_size,
            "protocol": PROTOCOL_VERSION,
        }

    def key(self) -> str:
        return content_key({"kind": "run", **self.to_dict()})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSpec:
        return cls(
            data=DataSpec(**d["data"]),
            architecture=d["architecture"],
            activation=d["activation"],
            seed=int(d["seed"]),
            train=TrainConfig(**{**d["train"], "betas": tuple(d["train"]["betas"])}),
            test_size=float(d["test_size"]),
        )


@dataclass(frozen=True)
class GridEntry:
    """A run and the table row it stands for (dataset, architecture and activation labels)."""

    spec: RunSpec
    dataset_label: str
    architecture_label: str
    activation_label: str
