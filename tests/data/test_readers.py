"""User CSV/Parquet files, built from slices of the real datasets: handling and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from symact.data import DataError, load_dataset
from symact.data.registry import COVTYPE_FEATURES, SPAMBASE_FEATURES


@pytest.fixture(scope="module")
def spam(shared_data: Path) -> pd.DataFrame:
    frame = pd.read_csv(shared_data / "spambase.data", header=None)
    frame.columns = [*SPAMBASE_FEATURES, "spam"]
    return frame


@pytest.fixture(scope="module")
def cover(shared_data: Path) -> pd.DataFrame:
    frame = pd.read_csv(shared_data / "covtype.csv.gz", header=None, nrows=400)
    frame.columns = [*COVTYPE_FEATURES, "Cover_Type"]
    return frame


def test_headerless_file_uses_last_column_as_label(shared_data, canonical_data_dir):
    user = load_dataset(shared_data / "spambase.data")
    registry = load_dataset("spambase", data_dir=canonical_data_dir)
    np.testing.assert_array_equal(user.X, registry.X)
    np.testing.assert_array_equal(user.y, registry.y)
    assert user.feature_names[:2] == ("col0", "col1") and user.domain == "user"
    assert user.name == "spambase" and user.provenance.sha256 == registry.provenance.sha256


def test_header_is_detected_and_target_named(tmp_path, spam):
    path = tmp_path / "spam.csv"
    spam[["spam", *SPAMBASE_FEATURES[:5]]].to_csv(path, index=False)
    ds = load_dataset(str(path), target="spam")
    assert ds.feature_names == SPAMBASE_FEATURES[:5]
    np.testing.assert_array_equal(ds.y, spam["spam"].to_numpy())
    by_index = load_dataset(path, target=0)
    np.testing.assert_array_equal(by_index.X, ds.X)


def test_string_labels_need_positive(tmp_path, spam):
    frame = spam[list(SPAMBASE_FEATURES[:4])].assign(label=spam["spam"].map({1: "yes", 0: "no"}))
    path = tmp_path / "yesno.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"classes 'no', 'yes', not 0/1; pass positive="):
        load_dataset(path)
    ds = load_dataset(path, positive="yes")
    np.testing.assert_array_equal(ds.y, spam["spam"].to_numpy())
    with pytest.raises(DataError, match="positive='maybe' is not a class"):
        load_dataset(path, positive="maybe")


def test_multiclass_target_names_classes_and_suggests_positive(tmp_path, cover):
    path = tmp_path / "cover.csv"
    cover.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"has \d classes \('1', '2', .*pass positive="):
        load_dataset(path, target="Cover_Type")
    ds = load_dataset(path, target="Cover_Type", positive=2)
    np.testing.assert_array_equal(ds.y, (cover["Cover_Type"] == 2).to_numpy().astype(np.int64))
    # one-hot soil types absent from these 400 rows are constant: dropped, with a note each
    constant = [c for c in COVTYPE_FEATURES if cover[c].nunique() == 1]
    assert constant and not set(constant) & set(ds.feature_names)
    assert ds.n_features == 54 - len(constant)
    assert f"dropped constant column {constant[0]!r}" in ds.provenance.notes


def test_missing_target_column_lists_the_columns(tmp_path, spam):
    path = tmp_path / "spam.csv"
    spam[["word_freq_make", "spam"]].to_csv(path, index=False)
    with pytest.raises(DataError, match=r"target column 'label' not found .* word_freq_make, spam"):
        load_dataset(path, target="label")


def test_categorical_features_are_one_hot_encoded(tmp_path, cover):
    areas = cover[[f"Wilderness_Area{i}" for i in range(1, 5)]].to_numpy().argmax(axis=1)
    names = np.array(["rawah", "neota", "comanche", "cache"])[areas]
    frame = cover[["Elevation", "Slope"]].assign(area=names, lodgepole=cover["Cover_Type"] == 2)
    path = tmp_path / "areas.csv"
    frame.to_csv(path, index=False)
    ds = load_dataset(path)  # True/False labels are binary already
    levels = sorted(set(names))
    assert ds.feature_names == ("Elevation", "Slope", *(f"area={lv}" for lv in levels))
    np.testing.assert_array_equal(ds.X[:, 2:].sum(axis=1), 1.0)
    np.testing.assert_array_equal(ds.y, (cover["Cover_Type"] == 2).to_numpy())
    assert "one-hot encoded column 'area' into" in ds.provenance.notes[0]


def test_high_cardinality_text_column_is_refused(tmp_path, spam):
    frame = spam[["word_freq_make", "spam"]].assign(msg_id=[f"m{i}" for i in range(len(spam))])
    path = tmp_path / "ids.csv"
    frame[["msg_id", "word_freq_make", "spam"]].to_csv(path, index=False)
    with pytest.raises(DataError, match=r"'msg_id' .* not numeric and has 4601 distinct values"):
        load_dataset(path)


def test_missing_values_name_columns_and_counts(tmp_path, spam):
    frame = spam[["word_freq_make", "word_freq_address", "spam"]].astype(object).copy()
    frame.loc[[3, 8, 20], "word_freq_make"] = None
    frame.loc[[5], "word_freq_address"] = None
    path = tmp_path / "holes.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(
        DataError, match=r"'word_freq_make': 3 rows, 'word_freq_address': 1 rows\); .*not impute"
    ):
        load_dataset(path)


def test_too_few_rows_and_single_class_are_refused(tmp_path, spam):
    few = tmp_path / "few.csv"
    spam.iloc[[0, 1, 2, 4598, 4599, 4600]].to_csv(few, index=False)
    with pytest.raises(DataError, match="6 rows; at least 10 are needed"):
        load_dataset(few)
    one = tmp_path / "one.csv"
    spam[spam["spam"] == 1].iloc[:50].to_csv(one, index=False)
    with pytest.raises(DataError, match="single class"):
        load_dataset(one)


def test_parquet_and_row_subsets(tmp_path, spam):
    path = tmp_path / "spam.parquet"
    spam.to_parquet(path)
    ds = load_dataset(path, target="spam")
    assert ds.feature_names == SPAMBASE_FEATURES and ds.n_rows == 4601
    sub = load_dataset(path, target="spam", rows=1000, seed=5)
    idx = np.random.RandomState(5).choice(4601, 1000, replace=False)
    np.testing.assert_array_equal(sub.X, ds.X[idx])


def test_missing_empty_and_odd_files(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_dataset(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="is empty"):
        load_dataset(empty)
    with pytest.raises(DataError, match="is a folder"):
        load_dataset(tmp_path)


def test_tab_separated_files(tmp_path, spam):
    path = tmp_path / "spam.tsv"
    spam[["word_freq_make", "word_freq_all", "spam"]].to_csv(path, sep="\t", index=False)
    ds = load_dataset(path)
    assert ds.feature_names == ("word_freq_make", "word_freq_all") and ds.n_rows == 4601
