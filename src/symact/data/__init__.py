"""symact's data stage: named datasets and user files as validated ``Dataset`` objects.

``load_dataset("higgs" | "covertype" | "spambase" | "breast_cancer" | "wine" | "digits" |
<path to CSV/Parquet>, labels="binary" | "all")`` returns float32 features, int64 labels
(0/1, or 0..C-1 with ``Dataset.classes`` naming them) and a provenance record;
``split_standardize`` is the one train/test split every stage uses. Files live in
``data_dir`` > ``SYMACT_DATA_DIR`` > the per-user cache folder; downloads come from UCI or
``SYMACT_UCI_MIRROR`` (see ``symact.data.registry``). Every bad input raises ``DataError``,
whose ``render("cli")`` spells the options it names as command-line flags.
"""

from symact.data.checks import checked_seed
from symact.data.dataset import DataProvenance, Dataset, dataset_table, load_dataset
from symact.data.errors import DataError, Option, render_error
from symact.data.labels import LABEL_MODES
from symact.data.registry import REGISTRY, DatasetInfo, data_home, list_datasets
from symact.data.splits import Split, split_standardize

__all__ = [
    "LABEL_MODES",
    "REGISTRY",
    "DataError",
    "DataProvenance",
    "Dataset",
    "DatasetInfo",
    "Option",
    "Split",
    "checked_seed",
    "data_home",
    "dataset_table",
    "list_datasets",
    "load_dataset",
    "render_error",
    "split_standardize",
]
