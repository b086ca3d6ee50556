"""A user's own CSV through ``symact benchmark``: text labels and columns, the label options,
and bad values, each a run or one line that names the flag, file or column (issue #10).

The files are real spambase rows written the way a user's export looks: an ``id`` text
column, ``yes``/``no`` labels in the second column, a three-level text column.
"""

from __future__ import annotations

import json
import warnings

import pytest
from cli_helpers import FAST, MAIL_COLUMNS, MAIL_FEATURES, csv_rows, listing, write_csv

from symact.models import LIGHT

LABEL_OPTIONS = ["--target", "y", "--positive", "yes", "--drop", "id"]


def _class_counts(path) -> tuple[int, int]:
    labels = [r["y"] for r in csv_rows(path)]
    return labels.count("no"), labels.count("yes")


def test_a_csv_with_text_labels_and_text_columns_runs_end_to_end(symact, mail_csv, tmp_path):
    out = tmp_path / "out"
    r = symact(
        "benchmark",
        "--datasets",
        str(mail_csv),
        *LABEL_OPTIONS,
        "--activations",
        "relu,x*tanh(x)",
        *FAST,
        "--out",
        str(out),
    )
    assert r.status == 0, r.err
    no, yes = _class_counts(mail_csv)
    note = f"label column 'y' of mail.csv: 400 rows; class 0 'no': {no}, class 1 'yes': {yes}"
    note = f"note MAIL: {note}"
    assert note in r.out.splitlines()
    assert "note MAIL: one-hot encoded column 'band' into 3 columns" in r.out
    rows = csv_rows(out / "final_efficiency_results.csv")
    assert {(x["Dataset"], x["Architecture"], x["Activation"]) for x in rows} == {
        ("MAIL", "Heavy", "ReLU"),
        ("MAIL", "Light", "ReLU"),
        ("MAIL", "Light", "mul(x, tanh(x))"),
    }
    # 6 numeric columns and band's 3 levels are the features; id and y are not
    n_features = len(MAIL_FEATURES) + 3
    assert {x["Params"] for x in rows if x["Architecture"] == "Light"} == {
        str(LIGHT.param_count(n_features))
    }
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.rstrip().endswith("</html>") and "mul(x, tanh(x))" in html
    assert "<title>symact benchmark: MAIL</title>" in html and "paper suite" not in html
    results = json.loads((out / "results.json").read_text())
    assert results["suite"] == "custom"  # the paper's protocol on the user's data
    data = results["data"]["MAIL"]
    assert data["label_column"] == "y"
    assert "3 runs: 3 trained, 0 already stored, 0 failed" in r.out


def test_a_text_column_with_many_levels_names_drop(symact, mail_csv, tmp_path):
    out = tmp_path / "out"
    before = listing(tmp_path)
    r = symact(
        "benchmark", "--datasets", str(mail_csv), "--target", "y", "--positive", "yes",
        *FAST, "--out", str(out),
    )  # fmt: skip
    assert r.status == 2
    line = r.error
    assert f"feature column 'id' of {mail_csv} is not numeric and has 400 distinct values" in line
    assert line.endswith("leave it out with --drop id")
    assert listing(tmp_path) == before  # no --out folder, no store


def test_target_is_a_name_or_else_a_0_based_position(symact, mail_csv, tmp_path):
    # y is column 1 of mail.csv (id is 0): the position names it where no column is "1"
    r = symact(
        "benchmark", "--datasets", str(mail_csv), "--target", "1", "--positive", "yes",
        "--drop", "id", *FAST, "--activations", "relu", "--out", str(tmp_path / "by-position"),
    )  # fmt: skip
    assert r.status == 0, r.err
    assert "note MAIL: label column 'y' of mail.csv: 400 rows;" in r.out

    # A column named "1" wins over position 1 (which is the numeric column "make").
    named = tmp_path / "named.csv"
    source = csv_rows(mail_csv)
    header = ["1", "make", "our", "id"]
    write_csv(named, header, [[x["y"], x["make"], x["our"], x["id"]] for x in source])
    r = symact(
        "benchmark", "--datasets", str(named), "--target", "1", "--positive", "yes",
        "--drop", "id", *FAST, "--activations", "relu", "--out", str(tmp_path / "by-name"),
    )  # fmt: skip
    assert r.status == 0, r.err
    assert "note NAMED: label column '1' of named.csv: 400 rows;" in r.out


def test_an_unknown_target_lists_the_columns(symact, mail_csv, tmp_path):
    out = tmp_path / "out"
    r = symact(
        "benchmark", "--datasets", str(mail_csv), "--target", "nope", "--positive", "yes",
        "--drop", "id", *FAST, "--out", str(out),
    )  # fmt: skip
    assert r.status == 2
    line = r.error
    assert f"target column 'nope' not found in {mail_csv}" in line
    assert f"its columns are: {', '.join(MAIL_COLUMNS)}" in line
    assert line.endswith("Pass --target <column name or 0-based position>")
    assert not out.exists()


def test_a_positive_class_that_is_not_there_lists_the_classes(symact, mail_csv, tmp_path):
    out = tmp_path / "out"
    r = symact(
        "benchmark", "--datasets", str(mail_csv), "--target", "y", "--positive", "maybe",
        "--drop", "id", *FAST, "--out", str(out),
    )  # fmt: skip
    assert r.status == 2
    line = r.error
    assert line.startswith("error: --positive maybe is not a class of label column 'y'")
    assert line.endswith("classes found: 'no', 'yes'")
    assert not out.exists()


def test_text_labels_without_positive_say_which_flag_makes_them_binary(symact, mail_csv, tmp_path):
    out = tmp_path / "out"
    r = symact(
        "benchmark", "--datasets", str(mail_csv), "--target", "y", "--drop", "id",
        *FAST, "--out", str(out),
    )  # fmt: skip
    assert r.status == 2
    assert "has classes 'no', 'yes', not 0/1; pass --positive <class>" in r.error
    assert "--positive yes" in r.error
    assert not out.exists()


def test_file_options_on_registry_datasets_say_they_apply_to_files(symact, tmp_path):
    out = tmp_path / "out"
    for flag, value in (("--positive", "1"), ("--target", "0"), ("--drop", "mean radius")):
        r = symact(
            "benchmark", "--datasets", "breast_cancer", flag, value, *FAST, "--out", str(out)
        )
        assert r.status == 2
        assert r.error.startswith(f"error: {flag} applies to file datasets (CSV/Parquet)")
        assert "remove it or name a file" in r.error
    assert not out.exists()


def test_values_beyond_float32_name_the_file_and_column_and_warn_nothing(
    symact, mail_csv, tmp_path
):
    rows = [list(x.values()) for x in csv_rows(mail_csv)]
    rows[5][MAIL_COLUMNS.index("free")] = "1e300"
    huge = write_csv(tmp_path / "huge.csv", MAIL_COLUMNS, rows)
    out = tmp_path / "out"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = symact(
            "benchmark", "--datasets", str(huge), *LABEL_OPTIONS, *FAST, "--out", str(out)
        )  # fmt: skip
    assert r.status == 2
    line = r.error
    assert f"feature column 'free' of {huge} has values beyond float32's range" in line
    assert "(first: data row 6, 1e+300)" in line and "--drop free" in line
    assert [w for w in caught if issubclass(w.category, RuntimeWarning)] == []
    assert "Warning" not in r.err
    assert not out.exists()


def test_a_header_only_csv_has_no_data_rows(symact, tmp_path):
    empty = write_csv(tmp_path / "empty.csv", MAIL_COLUMNS, [])
    out = tmp_path / "out"
    r = symact("benchmark", "--datasets", str(empty), *LABEL_OPTIONS, *FAST, "--out", str(out))
    assert r.status == 2
    assert r.error.startswith(f"error: {empty} has no data rows (only column names: id, y, make")
    assert not out.exists()


def test_when_every_run_fails_the_tables_are_still_written_and_say_why(symact, tmp_path):
    """A learning rate of 1e30 turns every loss into NaN in the second epoch: the runs are
    stored as failed, the outputs are written (n/a), and the first failure is printed."""
    out = tmp_path / "out"
    r = symact(
        "benchmark", "--datasets", "breast_cancer", "--activations", "relu", *FAST,
        "--epochs", "3", "--lr", "1e30", "--out", str(out),
    )  # fmt: skip
    assert r.status == 0, r.err
    assert "2 runs: 2 trained, 0 already stored, 2 failed" in r.out
    assert "first failure: loss became nan at epoch 2" in r.out
    rows = csv_rows(out / "final_efficiency_results.csv")
    assert [(x["Architecture"], x["Acc"], x["AUC"]) for x in rows] == [
        ("Heavy", "n/a", "n/a"),
        ("Light", "n/a", "n/a"),
    ]
    assert (out / "report.html").is_file() and not (out / "accuracy_vs_params.png").exists()


def test_epochs_auto_records_each_runs_epochs(symact, mail_csv, tmp_path):
    """``--epochs auto`` (the default for a user's file): each run stops on its own
    validation rows, and runs.csv and results.json say how many epochs it ran and which it
    kept; ``--batch-size`` and ``--patience`` reach every run."""
    out = tmp_path / "out"
    args = ["benchmark", "--datasets", str(mail_csv), *LABEL_OPTIONS, "--discovery", "none"]
    args += ["--seeds", "42,43", "--activations", "relu,tanh", "--heavy-widths", "none"]
    args += ["--device", "cpu", "--batch-size", "32", "--patience", "3", "--out", str(out)]
    r = symact(*args)
    assert r.status == 0, r.err
    runs = csv_rows(out / "runs.csv")
    assert len(runs) == 4
    for row in runs:
        epochs, best = int(row["epochs_run"]), int(row["best_epoch"])
        assert 1 <= best <= epochs <= 300 and (epochs == 300 or epochs == best + 3), row
    results = json.loads((out / "results.json").read_text())
    train = results["protocol"]["train"]
    assert (train["epochs"], train["patience"], train["batch_size"]) == (300, 3, 32)
    for run in results["runs"]:
        assert run["result"]["best_epoch"] >= 1 and "stopped_early" in run["result"]
    assert len({int(row["epochs_run"]) for row in runs}) > 1  # each run stopped on its own


def test_patience_without_epochs_auto_is_refused(symact, mail_csv, tmp_path):
    r = symact(
        "benchmark", "--datasets", str(mail_csv), *LABEL_OPTIONS, *FAST,
        "--patience", "3", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert r.status == 2 and "--patience applies to --epochs auto only" in r.err
    assert not (tmp_path / "out" / "runs.csv").exists()


def test_a_run_still_improving_at_the_maximum_is_warned_about(symact, mail_csv, tmp_path):
    out = tmp_path / "out"
    r = symact(
        "benchmark", "--datasets", str(mail_csv), *LABEL_OPTIONS, "--discovery", "none",
        "--seeds", "42", "--activations", "relu", "--heavy-widths", "none", "--device", "cpu",
        "--epochs", "auto", "--patience", "1000", "--out", str(out),
    )  # fmt: skip
    assert r.status == 0, r.err
    (row,) = csv_rows(out / "runs.csv")
    assert int(row["epochs_run"]) == 300
    warning = "warning: Still improving at the maximum of epochs"
    assert any(
        line.startswith(warning) and "MAIL: Light ReLU" in line for line in r.out.splitlines()
    )
    assert "Still improving at the maximum of epochs" in (out / "report.html").read_text()


def test_epochs_takes_a_number_or_auto(capsys, mail_csv):
    from symact.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["benchmark", "--datasets", str(mail_csv), "--epochs", "soon"])
    assert exit_.value.code == 2
    assert "--epochs: expected a positive integer or auto, got 'soon'" in capsys.readouterr().err
