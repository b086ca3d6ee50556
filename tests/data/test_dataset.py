"""load_dataset on the real slices under their canonical names, offline, and dataset_table."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from symact.data import REGISTRY, DataError, Dataset, dataset_table, load_dataset

SLICE_SHA256 = {  # the slices as the tests see them (tests/fixtures/data/README.md)
    "covtype.data.gz": "941ac5c1f285150cbe6ce0febb9932746af040fe2f0d54d0328bc33c2263cc6e",
    "spambase.data": "e0a17205eef77426e9d7488fbf172945bfec2967b1c4c4d90d9f02e98b9a6fe7",
}


def test_higgs_reads_the_first_rows_of_the_canonical_file(canonical_data_dir):
    ds = load_dataset("higgs", data_dir=canonical_data_dir, rows=2000)
    raw = pd.read_csv(canonical_data_dir / "HIGGS.csv.gz", header=None, nrows=2000).to_numpy()
    assert isinstance(ds, Dataset)
    assert (ds.name, ds.display_name, ds.domain) == ("higgs", "HIGGS", "physics")
    assert ds.X.dtype == np.float32 and ds.y.dtype == np.int64
    np.testing.assert_array_equal(ds.X, raw[:, 1:].astype(np.float32))
    np.testing.assert_array_equal(ds.y, raw[:, 0].astype(np.int64))
    assert ds.feature_names[0] == "lepton_pT" and ds.feature_names[-1] == "m_wwbb"
    assert ds.provenance.rows_read == 2000 and ds.provenance.subset_seed is None
    assert ds.provenance.full_copy is None  # a prefix of a longer file: not checkable


def test_higgs_default_on_the_short_copy_uses_all_rows_with_a_note(canonical_data_dir):
    ds = load_dataset("higgs", data_dir=canonical_data_dir)
    assert (ds.n_rows, ds.n_features, int(ds.y.sum())) == (3_000, 28, 1_577)
    p = ds.provenance
    assert (p.rows_requested, p.rows_available) == (100_000, 3_000)
    assert "requested 100000 rows, file has 3000: using all 3000" in p.notes
    assert p.full_copy is False  # 3,000 rows of an 11,000,000-row dataset


def test_covertype_subset_is_seeded_and_labels_code_2(canonical_data_dir):
    a = load_dataset("covertype", data_dir=canonical_data_dir, rows=1_000, seed=42)
    b = load_dataset("covertype", data_dir=canonical_data_dir, rows=1_000, seed=42)
    c = load_dataset("covertype", data_dir=canonical_data_dir, rows=1_000, seed=43)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)
    assert (a.n_rows, a.n_features, a.display_name) == (1_000, 54, "FOREST_COVER")
    assert a.provenance.subset_seed == 42 and a.provenance.rows_available == 3_000
    assert a.provenance.sha256 == SLICE_SHA256["covtype.data.gz"]
    assert any("full UCI dataset has 581012" in n for n in a.provenance.notes)
    assert a.provenance.full_copy is False
    full = load_dataset("covertype", data_dir=canonical_data_dir, rows=200_000)
    assert full.n_rows == 3_000 and int(full.y.sum()) == 1_468
    assert full.feature_names[0] == "Elevation" and full.feature_names[-1] == "Soil_Type40"


def test_a_spambase_subset_loads_as_a_subset_never_as_the_uci_file(canonical_data_dir):
    ds = load_dataset("spambase", data_dir=canonical_data_dir)
    assert (ds.n_rows, ds.n_features, int(ds.y.sum())) == (4_000, 57, 1_584)
    assert ds.feature_names[-1] == "capital_run_length_total"
    p = ds.provenance
    assert p.full_copy is False and p.sha256 == SLICE_SHA256["spambase.data"]
    assert p.sha256 != REGISTRY["spambase"].sha256
    (note,) = p.notes
    assert "file has 4000 rows; the full UCI dataset has 4601: this is a subset" in note
    assert p.sha256 in note


def test_a_file_with_the_full_row_count_must_be_the_uci_file(canonical_data_dir, tmp_path):
    # 4,601 real rows (the slice and 601 of its rows again): it claims to be the UCI file
    lines = (canonical_data_dir / "spambase.data").read_bytes().splitlines(keepends=True)
    (tmp_path / "spambase.data").write_bytes(b"".join(lines + lines[:601]))
    with pytest.raises(DataError, match=r"not the UCI file spambase\.data: it has the full 4601"):
        load_dataset("spambase", data_dir=tmp_path)


def test_a_bad_cached_file_gives_advice_not_a_traceback(tmp_path, canonical_data_dir):
    shutil.copyfile(canonical_data_dir / "spambase.data", tmp_path / "covtype.data.gz")
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
        ({"rows": 0}, "rows=0 is not a positive integer"),
        ({"rows": 2.5}, "rows=2.5 is not a positive integer"),
        ({"seed": -1}, r"seed=-1 is out of range: a seed must be a whole number from 0 to "),
        ({"seed": 2**40}, r"seed=1099511627776 is out of range"),
        ({"seed": "7"}, r"seed='7' is not an integer"),
        ({"target": "x"}, "target= applies to CSV/Parquet files only"),
        ({"drop": ["id"], "positive": 1}, "positive=, drop= apply to CSV/Parquet files only"),
        ({"labels": "multi"}, "labels='multi' is not a label mode; use 'binary' or 'all'"),
        ({"rows": 5}, "at least 10 are needed"),
    ],
)
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(DataError, match=match):
        load_dataset("breast_cancer", **kwargs)


def test_bad_arguments_name_the_cli_flag_when_rendered_for_the_cli():
    with pytest.raises(DataError) as err:
        load_dataset("breast_cancer", seed=-5)
    assert err.value.option == "seed"
    assert err.value.render("cli").startswith("--seed -5 is out of range")
    with pytest.raises(DataError) as err:
        load_dataset("breast_cancer", target="label", positive="yes")
    assert err.value.options == ("target", "positive")
    assert err.value.render("cli").startswith("--target, --positive apply to CSV/Parquet")


@pytest.mark.parametrize(
    ("name", "classes", "counts"),
    [
        ("covertype", ("1", "2", "3", "4", "5", "6", "7"), (1097, 1468, 175, 15, 50, 94, 101)),
        ("spambase", ("0", "1"), (2416, 1584)),
        ("higgs", ("0", "1"), (1423, 1577)),
        ("wine", ("class_0", "class_1", "class_2"), (59, 71, 48)),
        ("breast_cancer", ("malignant", "benign"), (212, 357)),
        ("digits", tuple("0123456789"), (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)),
    ],
)
def test_labels_all_keeps_every_class_of_a_registry_dataset(
    canonical_data_dir, name, classes, counts
):
    ds = load_dataset(name, data_dir=canonical_data_dir, labels="all")
    assert ds.classes == classes and ds.n_classes == len(classes)
    assert ds.class_counts == counts and ds.y.dtype == np.int64
    assert set(np.unique(ds.y)) == set(range(len(classes)))
    assert "every label value is its own class" in ds.label_rule


def test_labels_all_on_covertype_is_cover_type_minus_one(canonical_data_dir):
    ds = load_dataset("covertype", data_dir=canonical_data_dir, labels="all", rows=500, seed=3)
    raw = pd.read_csv(canonical_data_dir / "covtype.data.gz", header=None).to_numpy()
    idx = np.random.RandomState(3).choice(len(raw), 500, replace=False)
    np.testing.assert_array_equal(ds.y, raw[idx, -1] - 1)
    binary = load_dataset("covertype", data_dir=canonical_data_dir, rows=500, seed=3)
    np.testing.assert_array_equal(binary.y, (ds.y == 1).astype(np.int64))  # class '2'
    assert binary.classes == ("other cover type", "Lodgepole Pine")


def test_binary_registry_datasets_name_their_two_classes(canonical_data_dir):
    spam = load_dataset("spambase", data_dir=canonical_data_dir)
    assert spam.classes == ("not spam", "spam") and spam.n_classes == 2
    assert spam.label_summary() == (
        "label of SPAMBASE (last column: 1 = spam, 0 = not spam): 4,000 rows; "
        "class 0 'not spam': 2,416, class 1 'spam': 1,584"
    )
    assert load_dataset("breast_cancer").classes == ("benign", "malignant")


def test_every_class_needs_two_rows_in_the_rows_drawn(canonical_data_dir):
    # covertype's type 4 is 0.5% of the rows: 40 random rows miss it
    with pytest.raises(
        DataError,
        match=r"too few rows of some classes \('4': 0, .* of 40 rows\).* with labels='binary'$",
    ):
        load_dataset("covertype", data_dir=canonical_data_dir, labels="all", rows=40, seed=0)


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
