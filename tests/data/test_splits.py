"""split_standardize: the paper's split, standardised with training statistics only."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from symact.data import DataError, load_dataset, split_standardize


def test_split_is_sklearns_and_scaling_uses_train_only(canonical_data_dir):
    ds = load_dataset("spambase", data_dir=canonical_data_dir)
    split = split_standardize(ds.X, ds.y, seed=42)
    X_tr, X_te, y_tr, y_te = train_test_split(ds.X, ds.y, test_size=0.2, random_state=42)
    np.testing.assert_array_equal(split.y_train, y_tr)
    np.testing.assert_array_equal(split.y_test, y_te)
    assert split.X_train.dtype == np.float32 and split.y_train.dtype == np.int64
    assert (len(split.y_train), len(split.y_test)) == (3680, 921)
    mean = X_tr.astype(np.float64).mean(axis=0)
    std = X_tr.astype(np.float64).std(axis=0)
    np.testing.assert_allclose(split.X_test, (X_te - mean) / std, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(split.X_train.mean(axis=0), 0.0, atol=1e-5)
    # the test part is NOT re-centred with its own statistics
    assert np.abs(split.X_test.mean(axis=0)).max() > 1e-3


def test_different_seeds_give_different_splits(canonical_data_dir):
    ds = load_dataset("breast_cancer")
    a = split_standardize(ds.X, ds.y, seed=42)
    b = split_standardize(ds.X, ds.y, seed=43)
    assert not np.array_equal(a.y_test, b.y_test)
    c = split_standardize(ds.X, ds.y, seed=42, test_size=0.5)
    assert len(c.y_test) == 285


def test_bad_shapes_and_sizes_are_refused():
    X = np.zeros((10, 3), np.float32)
    with pytest.raises(DataError, match="shape"):
        split_standardize(X, np.zeros(9), seed=0)
    with pytest.raises(DataError, match="test_size"):
        split_standardize(X, np.zeros(10), seed=0, test_size=1.5)
