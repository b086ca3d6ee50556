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
    assert (len(split.y_train), len(split.y_test)) == (3200, 800)  # the 4,000-row slice
    mean = X_tr.astype(np.float64).mean(axis=0)
    std = X_tr.astype(np.float64).std(axis=0)
    np.testing.assert_allclose(split.X_test, (X_te - mean) / std, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(split.X_train.mean(axis=0), 0.0, atol=1e-5)
    # the test part is NOT re-centred with its own statistics
    assert np.abs(split.X_test.mean(axis=0)).max() > 1e-3


def test_different_seeds_give_different_splits():
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


def test_multi_class_labels_split_as_they_are(canonical_data_dir):
    ds = load_dataset("covertype", data_dir=canonical_data_dir, labels="all")
    split = split_standardize(ds.X, ds.y, seed=42)
    _, _, y_tr, y_te = train_test_split(ds.X, ds.y, test_size=0.2, random_state=42)
    np.testing.assert_array_equal(split.y_train, y_tr)
    np.testing.assert_array_equal(split.y_test, y_te)
    assert set(np.unique(split.y_train)) == set(range(7))


@pytest.mark.parametrize(
    ("seed", "match"),
    [
        (-1, r"^seed=-1 is out of range: a seed must be a whole number from 0 to 4,294,967,295"),
        (2**32, r"^seed=4294967296 is out of range"),
        (1.5, r"^seed=1.5 is not an integer"),
    ],
)
def test_seeds_are_checked_with_a_message_naming_the_option(seed, match):
    ds = load_dataset("breast_cancer")
    with pytest.raises(DataError, match=match) as err:
        split_standardize(ds.X, ds.y, seed=seed)
    assert err.value.render("cli").startswith(f"--seeds {seed} ")
    assert "random_state" not in str(err.value)  # not scikit-learn's wording
