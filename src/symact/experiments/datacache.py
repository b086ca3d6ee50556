"""The datasets and splits an experiment reads, each loaded or split once.

A module of its own (not in runner.py) so that the benchmark's discovery child, which loads
data but trains nothing, imports it without torch. Executors that train elsewhere (a Ray
worker) build a :class:`DataCache` over datasets shipped to them (:meth:`DataCache.of`), so
splits are made by the same code wherever a run trains.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from symact.data import Dataset, Split, load_dataset, split_standardize
from symact.experiments.specs import DataSpec, SplitSpec


@dataclass
class DataCache:
    """Loads each dataset once and makes each split once.

    Datasets are cached by what to read (``DataSpec.options()``); :meth:`identify` adds
    what was read, the data's fingerprint, to a spec, as every run key needs it.
    """

    data_dir: str | None = None
    _datasets: dict[DataSpec, Dataset] = field(default_factory=dict)
    _splits: dict[tuple[DataSpec, SplitSpec], Split] = field(default_factory=dict)

    @classmethod
    def of(cls, datasets: Mapping[DataSpec, Dataset]) -> DataCache:
        """A cache that already holds these datasets (and loads nothing else)."""
        cache = cls()
        cache._datasets.update((spec.options(), ds) for spec, ds in datasets.items())
        return cache

    def identify(self, spec: DataSpec) -> DataSpec:
        """``spec`` with the fingerprint of the data it loads (loading it if needed): the
        DataSpec every run and discovery on it is keyed by."""
        return replace(spec, fingerprint=self.dataset(spec).fingerprint)

    def dataset(self, spec: DataSpec) -> Dataset:
        spec = spec.options()
        if spec not in self._datasets:
            options = {}
            if spec.drop:
                options["drop"] = spec.drop
            if spec.labels != "binary":
                options["labels"] = spec.labels
            if spec.missing != "impute":
                options["missing"] = spec.missing
            self._datasets[spec] = load_dataset(
                spec.name,
                data_dir=self.data_dir,
                rows=spec.rows,
                seed=spec.subset_seed,
                target=spec.target,
                positive=spec.positive,
                **options,
            )
        return self._datasets[spec]

    def split(self, data: DataSpec, split: SplitSpec) -> Split:
        """The rows a run trains on and is scored on (``Split.X_test`` holds the scored
        rows: the test part, or the validation part of a search; see SplitSpec)."""
        key = (data.options(), split)
        if key not in self._splits:
            self._splits[key] = make_split(self.dataset(data), split)
        return self._splits[key]

    def n_classes(self, data: DataSpec) -> int:
        return self.dataset(data).n_classes


def train_indices(n: int, split: SplitSpec) -> np.ndarray:
    from sklearn.model_selection import train_test_split

    train_idx, _ = train_test_split(
        np.arange(n), test_size=split.test_size, random_state=split.seed
    )
    return train_idx


def discovery_rows(ds: Dataset, part: SplitSpec | None) -> tuple[np.ndarray, np.ndarray]:
    """The rows a discovery samples from: all of them (``part`` None, the paper's), or the
    training part of ``part``, so that the formula never sees that split's test rows."""
    return (ds.X, ds.y) if part is None else training_part(ds, part)


def training_part(ds: Dataset, split: SplitSpec) -> tuple[np.ndarray, np.ndarray]:
    """The raw rows of the training part of ``split`` (validation rows included, test rows
    not): what a search may look at, e.g. to discover its gplearn Specialist."""
    idx = train_indices(len(ds.y), split)
    return ds.X[idx], ds.y[idx]


def make_split(ds: Dataset, split: SplitSpec) -> Split:
    """The protocol's split, or a validation part carved out of its training part.

    The validation rows are drawn with the same seed from the training part only, and the
    standardization is fitted on what remains, so no statistic of a scored row reaches the
    training rows; the test part is the one the protocol's split with ``seed`` holds out.
    Missing cells are filled from the rows the standardization is fitted on.
    """
    blocks = ds.onehot_blocks
    if not split.validation and not split.selection:
        return split_standardize(
            ds.X, ds.y, seed=split.seed, test_size=split.test_size, onehot_blocks=blocks
        )
    X, y = training_part(ds, split)
    if not split.validation:  # trained on the rest of the training part, scored on selection
        return split_standardize(
            X, y, seed=split.seed, test_size=split.selection, onehot_blocks=blocks
        )
    if split.selection:  # the selection rows are left out: neither trained nor scored on
        rest = selection_rest(len(y), split)
        X, y = X[rest], y[rest]
    return split_standardize(
        X, y, seed=split.seed, test_size=split.validation, onehot_blocks=blocks
    )


def selection_rest(n: int, split: SplitSpec) -> np.ndarray:
    """Positions, within the ``n`` rows of the training part, of those that are not the
    selection rows of ``split`` (drawn as ``split_standardize`` draws its scored part)."""
    from sklearn.model_selection import train_test_split

    rest, _ = train_test_split(np.arange(n), test_size=split.selection, random_state=split.seed)
    return rest
