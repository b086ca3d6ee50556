"""symact's data stage: named datasets and user files as validated binary ``Dataset`` objects.

``load_dataset("higgs" | "covertype" | "spambase" | "breast_cancer" | "wine" | "digits" |
<path to CSV/Parquet>)`` returns float32 features, int64 0/1 labels and a provenance
record; ``split_standardize`` is the one train/test split every stage uses. Files live in
``data_dir`` > ``SYMACT_DATA_DIR`` > the per-user cache folder; downloads come from UCI or
``SYMACT_UCI_MIRROR`` (see ``symact.data.registry``). Every bad input raises ``DataError``.
"""

from symact.data.dataset import DataProvenance, Dataset, dataset_table, load_dataset
from symact.data.errors import DataError
from symact.data.registry import REGISTRY, DatasetInfo, data_home, list_datasets
from symact.data.splits import Split, split_standardize

__all__ = [
    "REGISTRY",
    "DataError",
    "DataProvenance",
    "Dataset",
    "DatasetInfo",
    "Split",
    "data_home",
    "dataset_table",
    "list_datasets",
    "load_dataset",
    "split_standardize",
]
