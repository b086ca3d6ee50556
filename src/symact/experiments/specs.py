"""What a run is: small frozen specs whose content hash is the key of its stored result.

A run is a pure function of its :class:`RunSpec` (data, network, seed, training settings,
split); two specs with the same fields produce the same result, so the results store keys
runs by a hash of their canonical JSON and a rerun skips every key it already holds.
Presentation (which table row a run belongs to) is kept out of the spec: the same Light
x·cos(x) run can be a "Specialist" in one grid and a "Transfer" in another without being
trained twice.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

from symact.data.missing import MISSING_POLICIES
from symact.discovery import GplearnSettings
from symact.errors import SettingError
from symact.identity import PROTOCOL_VERSION, identity_dict
from symact.models import ModelSpec
from symact.training.config import TrainConfig

LABELS = ("binary", "all")


def content_key(payload: dict[str, Any]) -> str:
    """A stable key for a JSON-able payload (sorted keys, no whitespace)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class DataSpec:
    """Which rows of which dataset: a registry name or a file path, how rows are chosen and
    which column is the label (files), with which classes (``labels``: ``binary`` as the
    registry or ``positive`` says, or ``all`` classes), and what a file's missing cells
    become (``missing``: see :mod:`symact.data.missing`).

    ``fingerprint`` names the rows themselves: the hash of the loaded features, labels and
    feature names (``Dataset.fingerprint``), filled in by ``DataCache.identify`` once the
    data is loaded. The options say what to read; the fingerprint says what was read, so
    an edited file, or another copy under another ``--data-dir``, gives other run keys.
    """

    name: str
    rows: int | None = None
    subset_seed: int = 42
    target: str | None = None
    positive: str | None = None
    drop: tuple[str, ...] = ()
    labels: str = "binary"
    missing: str = "impute"
    fingerprint: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "drop", tuple(self.drop))
        if self.labels not in LABELS:
            raise SettingError(f"labels must be one of {LABELS}, got {self.labels!r}")
        if self.missing not in MISSING_POLICIES:
            raise SettingError(f"missing must be one of {MISSING_POLICIES}, got {self.missing!r}")

    def options(self) -> DataSpec:
        """What to read, without what was read: the same spec before ``identify``."""
        return replace(self, fingerprint=None) if self.fingerprint is not None else self

    def to_dict(self) -> dict[str, Any]:
        return identity_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSpec:
        return cls(**{**d, "drop": tuple(d.get("drop") or ())})


@dataclass(frozen=True)
class SplitSpec:
    """Which rows a run trains on and which it is scored on.

    The paper's protocol (``validation == 0``): ``train_test_split(test_size,
    random_state=seed)``, train on the training part, score on the test part. With
    ``validation > 0`` that share of the training part is held out and the run is scored on
    it (an activation search selects on validation rows, never on test rows); the test part
    is still the one ``seed`` draws, so a later verdict on test uses rows no search read.

    ``selection > 0`` first sets that share of the training part aside as a search's
    selection rows: with ``validation`` the run neither trains nor is scored on them (the
    search's fitness never reads them); without, it trains on the rest of the training part
    and is scored on them (the finalists are chosen on rows the search did not select on).
    """

    seed: int
    test_size: float = 0.2
    validation: float = 0.0
    selection: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 < self.test_size < 1.0:
            raise SettingError(f"test_size must be in (0, 1), got {self.test_size}")
        if not 0.0 <= self.validation < 1.0:
            raise SettingError(f"validation must be in [0, 1), got {self.validation}")
        if not 0.0 <= self.selection < 1.0:
            raise SettingError(f"selection must be in [0, 1), got {self.selection}")

    @property
    def scored_on(self) -> str:
        if self.validation:
            return "validation"
        return "selection" if self.selection else "test"

    def to_dict(self) -> dict[str, Any]:
        return identity_dict(self)


@dataclass(frozen=True)
class DiscoverySpec:
    """One discovery: a dataset and the gplearn settings (their seed included).

    ``part`` None is the paper's: gplearn sees a sample of the whole dataset. A search's
    Specialist is discovered on the training part of ``part`` only, so that no test row
    reaches the formula it is later judged with.
    """

    data: DataSpec
    settings: GplearnSettings = field(default_factory=GplearnSettings)
    method: str = "gplearn"
    part: SplitSpec | None = None

    def key(self) -> str:
        payload = {
            "kind": "discovery",
            "method": self.method,
            "data": self.data.to_dict(),
            "settings": identity_dict(self.settings, exclude=("n_jobs",)),
            "protocol": PROTOCOL_VERSION,
        }
        if self.part is not None:
            payload["training_part_of"] = self.part.to_dict()
        return content_key(payload)


@dataclass(frozen=True)
class RunSpec:
    """One training run: data, network, seed (initialization, data order, dropout),
    training settings and split."""

    data: DataSpec
    model: ModelSpec
    seed: int
    train: TrainConfig = field(default_factory=TrainConfig)
    split: SplitSpec | None = None

    def __post_init__(self) -> None:
        if self.split is None:  # the paper's protocol: a new 80/20 split per seed
            object.__setattr__(self, "split", SplitSpec(seed=self.seed))

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": self.data.to_dict(),
            "model": self.model.to_dict(),
            "seed": self.seed,
            "train": self.train.identity(),
            "split": self.split.to_dict(),
            "protocol": PROTOCOL_VERSION,
        }

    def key(self) -> str:
        return content_key({"kind": "run", **self.to_dict()})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSpec:
        return cls(
            data=DataSpec.from_dict(d["data"]),
            model=ModelSpec.from_dict(d["model"]),
            seed=int(d["seed"]),
            train=TrainConfig(
                **{k: tuple(v) if k == "betas" else v for k, v in d["train"].items()}
            ),
            split=SplitSpec(**d["split"]),
        )


@dataclass(frozen=True)
class GridEntry:
    """A run and the table row it stands for (dataset, architecture and activation labels)."""

    spec: RunSpec
    dataset_label: str
    architecture_label: str
    activation_label: str
