"""Acceptance numbers on the project's full dataset copies (marker ``full_data``).

Run with ``python -m pytest -m full_data``; they read ``$SYMACT_SHARED_DATA`` or
``../shared/data`` and fail when neither holds the copies. Everything else runs on the
repository's slices.
"""

from __future__ import annotations

import numpy as np
import pytest

from symact.data import REGISTRY, DataError, load_dataset, split_standardize

pytestmark = pytest.mark.full_data


def test_spambase_full_copy_is_the_uci_file(full_canonical_data_dir, tmp_path):
    ds = load_dataset("spambase", data_dir=full_canonical_data_dir)
    assert (ds.n_rows, ds.n_features, int(ds.y.sum())) == (4601, 57, 1813)
    p = ds.provenance
    assert p.full_copy is True and p.sha256 == REGISTRY["spambase"].sha256 and p.notes == ()
    raw = bytearray((full_canonical_data_dir / "spambase.data").read_bytes())
    raw[50] = ord("7") if raw[50] != ord("7") else ord("6")
    (tmp_path / "spambase.data").write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"not the UCI file spambase\.data: it has the full 4601"):
        load_dataset("spambase", data_dir=tmp_path)
    split = split_standardize(ds.X, ds.y, seed=42)
    assert (len(split.y_train), len(split.y_test)) == (3680, 921)


def test_higgs_copy_is_the_first_10000_rows(full_canonical_data_dir):
    ds = load_dataset("higgs", data_dir=full_canonical_data_dir)
    assert (ds.n_rows, ds.n_features, int(ds.y.sum())) == (10_000, 28, 5_295)
    p = ds.provenance
    assert (p.rows_requested, p.rows_available, p.full_copy) == (100_000, 10_000, False)
    assert "requested 100000 rows, file has 10000: using all 10000" in p.notes


def test_covertype_copy_gives_the_papers_100k_subset(full_canonical_data_dir):
    ds = load_dataset("covertype", data_dir=full_canonical_data_dir, rows=100_000, seed=42)
    assert (ds.n_rows, ds.n_features) == (100_000, 54)
    p = ds.provenance
    assert (p.subset_seed, p.rows_available, p.full_copy) == (42, 135_009, False)
    assert p.sha256 == "03dda068a19fe9b7f1205a33ce895d91a03273fe0f118d67c688586765db0c31"
    every = load_dataset("covertype", data_dir=full_canonical_data_dir, rows=200_000, labels="all")
    assert every.class_counts == (49_244, 65_782, 8_309, 638, 2_230, 4_040, 4_766)
    binary = load_dataset("covertype", data_dir=full_canonical_data_dir, rows=200_000)
    np.testing.assert_array_equal(binary.y, (every.y == 1).astype(np.int64))
