"""A reference outside neural networks: gradient-boosted trees on the runs' own splits.

``--reference lightgbm`` trains LightGBM with its defaults (seeded; ``n_jobs=1`` so the
training stacks keep the cores) on every dataset and seed of a benchmark, on exactly the
split the networks train and are scored on (:meth:`DataCache.split`). Each fit is stored
like a run, under its own key (kind, model, data with its fingerprint, seed, split), so a
rerun resumes it. The rows it gives are context for the tables and the accuracy-vs-
parameters figure; they never enter a statistics family or a claim (the report builds
those from the networks' runs only).

Its "parameters" are the trees' nodes, each split and each leaf counted once (a split holds
a feature and a threshold, a leaf a value): a size on the figure's axis, not a count
comparable to a network's weights in any finer sense.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from symact.errors import SettingError
from symact.experiments.datacache import DataCache
from symact.experiments.specs import DataSpec, SplitSpec, content_key
from symact.experiments.store import ResultsStore
from symact.identity import PROTOCOL_VERSION

#: The reference models ``--reference`` takes.
REFERENCES: tuple[str, ...] = ("lightgbm",)
#: The table row of a reference: architecture and activation labels.
REFERENCE_ARCHITECTURE = "Reference"
REFERENCE_LABELS = {"lightgbm": "LightGBM"}


def check_reference(model: str) -> None:
    """Refuse, before any work, a reference that is unknown or not installed."""
    if model not in REFERENCES:
        raise SettingError(f"--reference must be one of {', '.join(REFERENCES)}, got {model!r}")
    try:
        import lightgbm  # noqa: F401
    except ImportError:
        raise SettingError(
            "--reference lightgbm needs lightgbm: pip install 'symact[lightgbm]'"
        ) from None


@dataclass(frozen=True)
class ReferenceSpec:
    """One reference fit: a model, the data (with its fingerprint), a seed and its split."""

    data: DataSpec
    seed: int
    split: SplitSpec
    model: str = "lightgbm"

    def key(self) -> str:
        return content_key({"kind": "reference", **self.to_dict()})

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "data": self.data.to_dict(),
            "seed": self.seed,
            "split": self.split.to_dict(),
            "protocol": PROTOCOL_VERSION,
        }


def tree_nodes(booster: Any) -> int:
    """Splits plus leaves over all trees of a LightGBM booster."""
    frame = booster.trees_to_dataframe()
    return len(frame)


def fit_lightgbm(spec: ReferenceSpec, data: DataCache) -> dict[str, Any]:
    """Train LightGBM's defaults on the spec's split; its scores like a run's."""
    import lightgbm

    from symact.training.metrics import roc_auc

    split = data.split(spec.data, spec.split)
    start = time.perf_counter()
    model = lightgbm.LGBMClassifier(random_state=spec.seed, n_jobs=1, verbose=-1)
    model.fit(split.X_train, split.y_train)
    probs = model.predict_proba(split.X_test)
    seconds = time.perf_counter() - start
    binary = probs.shape[1] == 2
    predicted = model.classes_[np.argmax(probs, axis=1)]
    return {
        "accuracy": float(np.mean(predicted == split.y_test)),
        "auc": roc_auc(split.y_test, probs[:, 1] if binary else probs),
        "params": tree_nodes(model.booster_),
        "seconds": seconds,
        "failed": False,
    }


def reference_specs(model: str, datasets: tuple[DataSpec, ...], seeds, test_size: float):
    """Every dataset and seed of a benchmark, on the split its runs use."""
    return [
        ReferenceSpec(d, seed, SplitSpec(seed, test_size), model)
        for d in datasets
        for seed in seeds
    ]


def run_references(specs: list[ReferenceSpec], store: ResultsStore, data: DataCache) -> None:
    """Fit and store every spec the store does not hold yet (each committed as it ends)."""
    for spec in specs:
        if store.get_run(spec.key()) is None:
            store.put_run(
                spec.key(), {"kind": "reference", **spec.to_dict()}, fit_lightgbm(spec, data)
            )


def reference_entries(specs: list[ReferenceSpec], labels: dict[str, str]) -> list[dict[str, Any]]:
    """The suite document's entries of the references (as its run entries read)."""
    return [
        {
            "key": s.key(),
            "dataset": labels[s.data.name],
            "architecture": REFERENCE_ARCHITECTURE,
            "activation": REFERENCE_LABELS[s.model],
            "formula": None,
            "seed": s.seed,
        }
        for s in specs
    ]
