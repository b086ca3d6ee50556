"""The one train/test split of symact: the paper's split, then standardisation fitted on train.

The paper calls ``train_test_split(test_size=0.2, random_state=seed)`` and fits a
``StandardScaler`` on the training part only; doing it in one place keeps every stage on
the same rows and stops test statistics from leaking into training. Missing cells (NaN) are
filled the same way, from the training part only (:func:`symact.data.missing.impute`),
before the standardisation; a dataset without them is split exactly as before. Labels may have any
number of classes (0..C-1); the split is the paper's, not stratified.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from symact.data.checks import checked_seed
from symact.data.errors import DataError
from symact.data.missing import impute


@dataclass(frozen=True, eq=False)
class Split:
    """Standardised train and test parts: float32 features, int64 labels (0..C-1)."""

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray


def split_standardize(
    X: np.ndarray,
    y: np.ndarray,
    *,
    seed: int,
    test_size: float = 0.2,
    onehot_blocks: Sequence[Sequence[int]] = (),
) -> Split:
    """Split with ``train_test_split(random_state=seed)``; impute and standardise with train
    statistics.

    ``seed`` is a training seed (the CLI's ``--seeds``): an integer in [0, 2**32).
    ``onehot_blocks``: the column blocks of text columns with missing cells
    (``Dataset.onehot_blocks``), each filled with its most frequent training level.
    """
    seed = checked_seed(seed, flag="--seeds")
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise DataError(
            f"split_standardize needs X of shape (rows, features) and y of shape (rows,); "
            f"got X {X.shape} and y {y.shape}"
        )
    if not 0.0 < test_size < 1.0:
        raise DataError(f"test_size must lie strictly between 0 and 1, got {test_size}")
    n_test = int(np.ceil(test_size * len(y)))
    if n_test < 1 or len(y) - n_test < 1:
        raise DataError(f"{len(y)} rows cannot be split with test_size={test_size}")
    # imported here: scikit-learn takes ~1 s to import and `symact datasets` never splits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=seed
    )
    # statistics in float64, as the paper's pandas/float64 pipeline computes them
    X_train = np.asarray(X_train, dtype=np.float64)
    X_test = np.asarray(X_test, dtype=np.float64)
    X_train, X_test = impute(X_train, X_test, onehot_blocks=onehot_blocks)
    scaler = StandardScaler().fit(X_train)
    return Split(
        X_train=scaler.transform(X_train).astype(np.float32),
        X_test=scaler.transform(X_test).astype(np.float32),
        y_train=np.asarray(y_train, dtype=np.int64),
        y_test=np.asarray(y_test, dtype=np.int64),
    )
