"""load_dataset on the real copies under their canonical names, offline, and dataset_table."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from symact.data import DataError, Dataset, dataset_table, load_dataset


def test_higgs_reads_the_first_rows_of_the_canonical_file(canonical_data_dir, shared_data):
    ds = load_dataset("higgs", data_dir=canonical_data_dir, rows=2000)
    raw = pd.read_csv(shared_data / "higgs_first10k.csv.gz", header=None, nrows=2000).to_numpy()
    assert isinstance(ds, Dataset)
    assert (ds.name, ds.display_name, ds.domain) == ("higgs", "HIGGS", "physics")
    assert ds.X.dtype == np.float32 and ds.y.dtype == np.int64
    np.testing.assert_array_equal(ds.X, raw[:, 1:].astype(np.float32))
    np.testing.assert_array_equal(ds.y, raw[:, 0].astype(np.int64))
    assert ds.feature_names[0] == "lepton_pT" and ds.feature_names[-1] == "m_wwbb"
    assert ds.provenance.rows_read == 2000 and ds.provenance.subset_seed is None


def test_higgs_default_on_the_short_copy_uses_all_rows_with_a_note(canonical_data_dir):
    ds = load_dataset("higgs", data_dir=canonical_data_dir)
    assert (ds.n_rows, ds.n_features, int(ds.y.sum())) == (10_000, 28, 5_295)
    p = ds.provenance
    assert (p.rows_requested, p.rows_available) == (100_000, 10_000)
    assert "requested 100000 rows, file has 10000: using all 10000" in p.notes


def test_covertype_subset_is_seeded_and_labels_code_2(canonical_data_dir, shared_data):
    a = load_dataset("covertype", data_dir=canonical_data_dir, rows=100_000, seed=42)
    b = load_dataset("covertype", data_dir=canonical_data_dir, rows=100_000, seed=42)
    c = load_dataset("covertype", data_dir=canonical_data_dir, rows=100_000, seed=43)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)
    assert (a.n_rows, a.n_features, a.display_name) == (100_000, 54, "FOREST_COVER")
    assert a.provenance.subset_seed == 42 and a.provenance.rows_available == 135_009
    assert a.provenance.sha256 == (
        "03dda068a19fe9b7f1205a33ce895d91a03273fe0f118d67c688586765db0c31"
    )
    assert any("full UCI dataset has 581012" in n for n in a.provenance.notes)
    full = load_dataset("covertype", data_dir=canonical_data_dir, rows=200_000)
    assert full.n_rows == 135_009 and int(full.y.sum()) == 65_782
    assert full.feature_names[0] == "Elevation" and full.feature_names[-1] == "Soil_Type40"


def test_spambase_is_checked_against_its_sha256(canonical_data_dir, tmp_path, shared_data):
    ds = load_dataset("spambase", data_dir=canonical_data_dir)
    assert (ds.n_rows, ds.n_features, int(ds.y.sum())) == (4601, 57, 1813)
    assert ds.feature_names[-1] == "capital_run_length_total"
    raw = bytearray((shared_data / "spambase.data").read_bytes())
    raw[50] = ord("7") if raw[50] != ord("7") else ord("6")
    (tmp_path / "spambase.data").write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"not the UCI file spambase\.data: its sha256"):
        load_dataset("spambase", data_dir=tmp_path)


def test_a_bad_cached_file_gives_advice_not_a_traceback(tmp_path, shared_data):
    shutil.copyfile(shared_data / "spambase.data", tmp_path / "covtype.data.gz")  # not gzip
    with pytest.raises(DataError, match=r"not a valid copy of the UCI file covtype\.data\.gz"):
        load_dataset("covertype", data_dir=tmp_path)


@pytest.mark.parametrize(
    ("name", "rows", "features", "positives"),
    [("breast_cancer", 569, 30, 212), ("wine", 178, 13, 59), ("digits", 1797, 64, 896)],
)
def test_builtin_datasets_load_offline_with_their_rule(name, rows, features, positives):
    ds = load_dataset(name, data_dir="/nonexistent/never/used")
    assert (ds.n_rows, ds.n_features, int(ds.y.sum())) == (rows, features, positives)
    assert ds.provenance.source.startswith("sklearn:")


def test_rows_on_builtins_draw_a_seeded_subset():
    a = load_dataset("breast_cancer", rows=100, seed=3)
    b = load_dataset("breast_cancer", rows=100, seed=3)
    np.testing.assert_array_equal(a.X, b.X)
    assert a.n_rows == 100 and a.provenance.subset_seed == 3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rows": 0}, "rows must be a positive integer"),
        ({"rows": 2.5}, "rows must be a positive integer"),
        ({"seed": -1}, "seed must lie in"),
        ({"target": "x"}, "apply to CSV/Parquet files"),
        ({"rows": 5}, "at least 10 are needed"),
    ],
)
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(DataError, match=match):
        load_dataset("breast_cancer", **kwargs)


def test_unknown_name_lists_the_registry():
    with pytest.raises(DataError, match="unknown dataset 'mnist'; known datasets: higgs"):
        load_dataset("mnist")


def test_dataset_table_reports_cache_state(canonical_data_dir, tmp_path):
    rows = {r["name"]: r for r in dataset_table(canonical_data_dir)}
    assert rows["higgs"]["cached"] and rows["higgs"]["path"].endswith("HIGGS.csv.gz")
    assert rows["covertype"]["features"] == 54 and rows["covertype"]["rows"] == 100_000
    assert rows["breast_cancer"]["source"] == "sklearn:load_breast_cancer"
    empty = {r["name"]: r for r in dataset_table(tmp_path)}
    assert not empty["spambase"]["cached"] and empty["spambase"]["path"] is None
    assert empty["spambase"]["source"].endswith("spambase/spambase.data")
    (tmp_path / "HIGGS.first500.csv.gz").write_bytes(b"")
    partial = {r["name"]: r for r in dataset_table(tmp_path)}["higgs"]
    assert not partial["cached"] and partial["path"].endswith("HIGGS.first500.csv.gz")
