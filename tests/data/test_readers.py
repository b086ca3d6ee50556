"""User CSV/Parquet files, built from slices of the real datasets: handling and clear errors."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from symact.data import DataError, load_dataset
from symact.data.registry import COVTYPE_FEATURES, SPAMBASE_FEATURES


@pytest.fixture(scope="module")
def spam(canonical_data_dir: Path) -> pd.DataFrame:
    """The 4,000-row spambase slice (spam rows first, as in the UCI file), named columns."""
    frame = pd.read_csv(canonical_data_dir / "spambase.data", header=None)
    frame.columns = [*SPAMBASE_FEATURES, "spam"]
    return frame


@pytest.fixture(scope="module")
def cover(canonical_data_dir: Path) -> pd.DataFrame:
    frame = pd.read_csv(canonical_data_dir / "covtype.data.gz", header=None, nrows=400)
    frame.columns = [*COVTYPE_FEATURES, "Cover_Type"]
    return frame


def test_headerless_file_uses_last_column_as_label(canonical_data_dir):
    user = load_dataset(canonical_data_dir / "spambase.data")
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
    with pytest.raises(DataError) as err:
        load_dataset(path)
    assert re.search(r"'msg_id' .* not numeric and has 4000 distinct values", str(err.value))
    # the way out is to drop it: the message names the option, in Python and CLI spelling
    assert str(err.value).endswith("leave it out with drop=['msg_id']")
    assert err.value.render("cli").endswith("leave it out with --drop msg_id")
    assert err.value.option == "drop"
    ds = load_dataset(path, drop=["msg_id"])
    assert ds.feature_names == ("word_freq_make",)


def test_missing_values_name_columns_and_counts(tmp_path, spam):
    frame = spam[["word_freq_make", "word_freq_address", "spam"]].astype(object).copy()
    frame.loc[[3, 8, 20], "word_freq_make"] = None
    frame.loc[[5], "word_freq_address"] = None
    path = tmp_path / "holes.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError) as err:
        load_dataset(path, missing="refuse")
    assert str(err.value).startswith(
        f"{path}: column 'word_freq_make' is missing in data row 4 (3 rows in all; 1 other "
        "column(s) have missing cells too); pass missing='impute'"
    )
    assert load_dataset(path, missing="drop").n_rows == len(spam) - 4
    imputed = load_dataset(path)  # the default: kept as NaN, with an indicator column each
    assert imputed.feature_names == (
        "word_freq_make",
        "word_freq_make missing",
        "word_freq_address",
        "word_freq_address missing",
    )
    assert np.isnan(imputed.X).sum(axis=0).tolist() == [3, 0, 1, 0]


def test_too_few_rows_and_single_class_are_refused(tmp_path, spam):
    few = tmp_path / "few.csv"
    spam.iloc[[0, 1, 2, -3, -2, -1]].to_csv(few, index=False)
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
    assert ds.feature_names == SPAMBASE_FEATURES and ds.n_rows == len(spam)
    sub = load_dataset(path, target="spam", rows=1000, seed=5)
    idx = np.random.RandomState(5).choice(len(spam), 1000, replace=False)
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
    assert ds.feature_names == ("word_freq_make", "word_freq_all") and ds.n_rows == len(spam)


@pytest.mark.parametrize("header", [True, False])
def test_semicolons_with_decimal_commas_are_sniffed(tmp_path, spam, header):
    """A spreadsheet's European CSV export: ``;`` between fields, ``,`` in numbers."""
    columns = ["word_freq_make", "word_freq_all", "capital_run_length_average", "spam"]
    path = tmp_path / "spam_eu.csv.gz"
    spam[columns].to_csv(path, sep=";", decimal=",", index=False, header=header)
    ds = load_dataset(path)
    plain = tmp_path / "spam.csv"
    spam[columns].to_csv(plain, index=False, header=header)
    expected = load_dataset(plain)
    np.testing.assert_array_equal(ds.X, expected.X)
    np.testing.assert_array_equal(ds.y, spam["spam"].to_numpy())
    assert ds.feature_names == expected.feature_names
    assert "read as semicolon-separated with decimal commas" in ds.provenance.notes


def test_semicolons_with_decimal_points_keep_the_points(tmp_path, spam):
    path = tmp_path / "spam_semi.csv"
    spam[["word_freq_make", "capital_run_length_average", "spam"]].to_csv(
        path, sep=";", index=False
    )
    ds = load_dataset(path)
    np.testing.assert_allclose(ds.X[:, 1], spam["capital_run_length_average"], rtol=1e-6)
    assert "read as semicolon-separated" in ds.provenance.notes


def test_a_ragged_file_names_the_delimiter_it_was_read_with(tmp_path, spam):
    path = tmp_path / "ragged.csv"
    rows = (
        spam[["word_freq_make", "word_freq_all", "spam"]]
        .head(60)
        .to_csv(sep=";", decimal=",", index=False)
    )
    lines = rows.splitlines()
    lines[55] += ";1,5;2"  # a row past the sniffed sample with two extra fields
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="read it as semicolon-separated with decimal ','"):
        load_dataset(path)


# --------------------------------------------------------------------------- drop and target


def test_drop_leaves_named_columns_out_before_anything_else(tmp_path, spam):
    frame = spam[["word_freq_make", "word_freq_all", "spam"]].copy()
    frame.insert(0, "msg_id", [f"m{i}" for i in range(len(frame))])  # text, 4,000 levels
    frame.insert(1, "holes", np.where(np.arange(len(frame)) % 7 == 0, np.nan, 1.5))
    path = tmp_path / "mail.csv"
    frame.to_csv(path, index=False)
    ds = load_dataset(path, drop=("msg_id", "holes"))
    assert ds.feature_names == ("word_freq_make", "word_freq_all")
    np.testing.assert_array_equal(ds.y, spam["spam"].to_numpy())
    # one name may be given as a str; the missing values then point at the other column
    with pytest.raises(DataError) as err:
        load_dataset(path, drop="msg_id", missing="refuse")
    assert "column 'holes' is missing in data row 1 (572 rows in all)" in str(err.value)
    assert str(err.value).endswith("or missing='drop' to leave those rows out")


def test_an_unknown_drop_column_is_an_error_listing_the_columns(tmp_path, spam):
    path = tmp_path / "mail.csv"
    spam[["word_freq_make", "spam"]].to_csv(path, index=False)
    with pytest.raises(DataError) as err:
        load_dataset(path, drop=["id"])
    msg = str(err.value)
    assert msg.startswith("drop=['id']: ") and "has no column 'id'" in msg
    assert msg.endswith("its columns are: word_freq_make, spam")
    assert err.value.render("cli").startswith("--drop id: ")


def test_target_by_position_as_int_or_text(tmp_path, spam):
    path = tmp_path / "mail.csv"
    spam[["word_freq_make", "spam", "word_freq_all"]].to_csv(path, index=False)
    by_name = load_dataset(path, target="spam")
    for target in (1, "1", " 1", -2, "-2"):
        ds = load_dataset(path, target=target)
        np.testing.assert_array_equal(ds.y, by_name.y)
        assert ds.feature_names == ("word_freq_make", "word_freq_all")
        assert ds.provenance.label_column == "spam" and ds.label_rule == "column 'spam'"
    with pytest.raises(DataError, match=r"^target='3' is out of range: .* has 3 columns"):
        load_dataset(path, target="3")


def test_a_column_named_like_a_number_wins_over_the_position(tmp_path, spam):
    frame = pd.DataFrame(
        {"0": spam["word_freq_make"], "2": spam["spam"], "x": spam["word_freq_all"]}
    )
    path = tmp_path / "numbered.csv"
    frame.to_csv(path, index=False)
    ds = load_dataset(path, target="2")  # the column named "2", not position 2 ("x")
    np.testing.assert_array_equal(ds.y, spam["spam"].to_numpy())


def test_positions_count_the_files_columns_and_the_label_cannot_be_dropped(tmp_path, spam):
    frame = spam[["word_freq_make", "word_freq_all", "spam"]].copy()
    frame.insert(0, "id", np.arange(len(frame)))
    path = tmp_path / "mail.csv"
    frame.to_csv(path, index=False)
    ds = load_dataset(path, drop=["id"], target=3)  # position 3 of the file: "spam"
    np.testing.assert_array_equal(ds.y, spam["spam"].to_numpy())
    with pytest.raises(DataError, match=r"target='spam' names column 'spam' .* also listed in"):
        load_dataset(path, drop=["id", "spam"], target="spam")
    # by default the label is the last column that is not dropped
    frame.assign(note=["x"] * len(frame)).to_csv(path, index=False)
    assert load_dataset(path, drop=["id", "note"]).provenance.label_column == "spam"


# --------------------------------------------------------------------------- labels="all"


def test_labels_all_keeps_every_class_sorted_numerically(tmp_path, cover):
    path = tmp_path / "cover.csv"
    cover.to_csv(path, index=False)
    ds = load_dataset(path, target="Cover_Type", labels="all")
    present = sorted(cover["Cover_Type"].unique())
    assert ds.classes == tuple(str(v) for v in present)
    assert ds.n_classes == len(present) and ds.y.dtype == np.int64
    np.testing.assert_array_equal(
        np.asarray(ds.classes)[ds.y], cover["Cover_Type"].astype(str).to_numpy()
    )
    counts = cover["Cover_Type"].value_counts()
    assert ds.class_counts == tuple(int(counts[v]) for v in present)


def test_numeric_labels_sort_as_numbers_and_text_labels_as_text(tmp_path, spam):
    sizes = spam["spam"].map({1: "10", 0: "9"})
    frame = spam[["word_freq_make", "word_freq_all"]].assign(size=sizes)
    frame.loc[frame.index[:20], "size"] = "100"
    path = tmp_path / "sizes.csv"
    frame.to_csv(path, index=False)
    assert load_dataset(path, labels="all").classes == ("9", "10", "100")
    frame["size"] = frame["size"].map({"9": "b", "10": "a", "100": "C"})
    frame.to_csv(path, index=False)
    assert load_dataset(path, labels="all").classes == ("C", "a", "b")


def test_labels_all_refuses_positive_and_a_single_class(tmp_path, spam):
    path = tmp_path / "mail.csv"
    spam[["word_freq_make", "spam"]].to_csv(path, index=False)
    with pytest.raises(DataError, match=r"^positive=1 makes the task binary, but labels='all'"):
        load_dataset(path, labels="all", positive=1)
    one = tmp_path / "one.csv"
    spam[spam["spam"] == 1][["word_freq_make", "spam"]].to_csv(one, index=False)
    with pytest.raises(DataError, match="single class"):
        load_dataset(one, labels="all")


def test_minimum_rows_apply_to_every_class(tmp_path, cover):
    frame = cover[cover["Cover_Type"].isin([1, 2])].copy()
    frame = pd.concat([frame, cover[cover["Cover_Type"] == 3].iloc[:1]])  # one row of type 3
    path = tmp_path / "cover.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError) as err:
        load_dataset(path, labels="all")
    assert re.search(r"too few rows of a class \('3': 1 of \d+ rows\)", str(err.value))
    assert err.value.render("cli").endswith("make the task binary with --positive <class>")
    assert load_dataset(path, positive=2).classes == ("not 2", "2")  # one-vs-rest still works


def test_binary_files_name_their_classes_and_summarise_the_label(tmp_path, spam):
    path = tmp_path / "Mail.csv"
    yes_no = spam["spam"].map({1: "yes", 0: "no"})
    spam[["word_freq_make"]].assign(label=yes_no).to_csv(path, index=False)
    ds = load_dataset(path, positive="yes")
    assert ds.classes == ("no", "yes")
    assert ds.label_summary() == (
        "label column 'label' of Mail.csv: 4,000 rows; class 0 'no': 2,416, class 1 'yes': 1,584"
    )
    spam[["word_freq_make", "spam"]].to_csv(path, index=False)
    assert load_dataset(path).classes == ("0", "1")


# --------------------------------------------------------------------------- defects


def test_values_beyond_float32_are_refused_at_load_without_a_warning(tmp_path, spam):
    frame = spam[["word_freq_make", "capital_run_length_total", "spam"]].astype(float)
    frame.loc[frame.index[[4, 9]], "capital_run_length_total"] = [1e300, -2e39]
    path = tmp_path / "huge.csv"
    frame.to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning from a float32 cast fails the test
        with pytest.raises(DataError) as err:
            load_dataset(path)
    msg = str(err.value)
    assert str(path) in msg and "'capital_run_length_total'" in msg
    assert "beyond float32's range" in msg and "in 2 rows" in msg
    assert err.value.render("cli").endswith("--drop capital_run_length_total")


def test_a_header_only_csv_has_no_data_rows(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("word_freq_make,word_freq_all,spam\n")
    for kwargs in ({}, {"target": "spam"}, {"labels": "all"}):
        with pytest.raises(DataError) as err:
            load_dataset(path, **kwargs)
        msg = str(err.value)
        assert msg.startswith(f"{path} has no data rows")
        assert "word_freq_make, word_freq_all, spam" in msg


def test_messages_name_the_option_for_python_and_for_the_cli(tmp_path, cover):
    path = tmp_path / "cover.csv"
    cover.to_csv(path, index=False)
    with pytest.raises(DataError) as err:
        load_dataset(path)
    python, cli = str(err.value), err.value.render("cli")
    assert "pass positive=<class> to make it binary" in python
    assert "labels='all' to keep every class" in python and "or target=<column>" in python
    assert "pass --positive <class> to make it binary" in cli
    assert "--labels all to keep every class" in cli and "or --target <column>" in cli
    assert "positive=" not in cli and "--positive" not in python
    with pytest.raises(DataError) as err:
        load_dataset(path, positive="Spruce/Fir")
    assert err.value.render("cli").startswith("--positive Spruce/Fir is not a class")
    with pytest.raises(DataError) as err:
        load_dataset(path, target="cover type")
    assert "Pass --target <column name or 0-based position>" in err.value.render("cli")


def test_a_stray_text_in_a_numeric_column_is_named_with_its_row(tmp_path, spam):
    frame = spam[["word_freq_make", "capital_run_length_total", "spam"]].astype(object)
    frame.loc[frame.index[6], "capital_run_length_total"] = "abc"
    path = tmp_path / "stray.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError) as err:
        load_dataset(path)
    msg = err.value.render("cli")
    assert "'capital_run_length_total'" in msg and str(path) in msg
    assert "except 1 value(s) such as 'abc' in data row 7" in msg
    assert msg.endswith("--drop capital_run_length_total")


def test_a_continuous_label_with_every_class_is_one_short_line(tmp_path, spam):
    frame = spam[["word_freq_make", "capital_run_length_total"]]  # a count as the label
    path = tmp_path / "counts.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError) as err:
        load_dataset(path, target="capital_run_length_total", labels="all")
    msg = err.value.render("cli")
    assert len(msg) < 800 and "\n" not in msg, msg
    assert "too few rows of some classes" in msg and "405 of the 876 classes, in 4000 rows" in msg
    assert "876 distinct values" in msg and msg.endswith("--target <column>")
