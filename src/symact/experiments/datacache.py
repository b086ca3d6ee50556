"""The datasets and splits an experiment reads, each loaded or split once.

A module of its own (not in runner.py) so that the benchmark's discovery child, which loads
data but trains nothing, imports it without torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from symact.data import Dataset, Split, load_dataset, split_standardize
from symact.experiments.specs import DataSpec


@dataclass
class DataCache:
    """Loads each dataset once and splits it once per (seed, test_size)."""

    data_dir: str | None = None
    _datasets: dict[DataSpec, Dataset] = field(default_factory=dict)
    _splits: dict[tuple[DataSpec, int, float], Split] = field(default_factory=dict)

    def dataset(self, spec: DataSpec) -> Dataset:
        if spec not in self._datasets:
            self._datasets[spec] = load_dataset(
                spec.name,
                data_dir=self.data_dir,
                rows=spec.rows,
                seed=spec.subset_seed,
                target=spec.target,
                positive=spec.positive,
            )
        return self._datasets[spec]

    def split(self, spec: DataSpec, seed: int, test_size: float) -> Split:
        key = (spec, seed, test_size)
        if key not in self._splits:
            ds = self.dataset(spec)
            self._splits[key] = split_standardize(ds.X, ds.y, seed=seed, test_size=test_size)
        return self._splits[key]
