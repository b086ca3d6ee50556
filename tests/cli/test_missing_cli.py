"""``--missing impute|drop|refuse`` end to end on a real table with missing cells (the Palmer
penguins, see tests/fixtures/data/README.md): every command that reads a dataset runs on it
with the note, or refuses it in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import FAST, csv_rows, listing

from symact.models import LIGHT

PENGUINS = str(Path(__file__).resolve().parents[1] / "fixtures" / "data" / "penguins.csv")
ADELIE = ["--target", "species", "--positive", "Adelie"]
FILLED = (
    "note PENGUINS: 19 missing cells in 5 column(s) of 344 rows, filled on each split from "
    "its training rows (median for numbers, most frequent level for text) with an indicator "
    "column each: 'bill_length_mm' 2, 'bill_depth_mm' 2, 'flipper_length_mm' 2, "
    "'body_mass_g' 2, 'sex' 11"
)
TINY_GP = ["--generations", "1", "--population-size", "20"]


def test_benchmark_imputes_by_default_and_says_so_before_training(symact, tmp_path):
    out = tmp_path / "out"
    r = symact("benchmark", "--datasets", PENGUINS, *ADELIE, *FAST, "--out", str(out))
    assert r.status == 0, r.err
    lines = r.out.splitlines()
    assert FILLED in lines
    assert lines.index(FILLED) < next(i for i, x in enumerate(lines) if "runs:" in x)
    rows = csv_rows(out / "final_efficiency_results.csv")
    assert {x["Architecture"] for x in rows} == {"Heavy", "Light"}
    # island's 3 levels, 4 measures, sex's 2 levels, year, and 5 indicator columns
    light = {x["Params"] for x in rows if x["Architecture"] == "Light"}
    assert light == {str(LIGHT.param_count(15))}


def test_benchmark_drop_leaves_the_rows_out_and_counts_them(symact, tmp_path):
    out = tmp_path / "out"
    r = symact(
        "benchmark", "--datasets", PENGUINS, *ADELIE, "--missing", "drop", *FAST, "--out", str(out)
    )
    assert r.status == 0, r.err
    assert "note PENGUINS: dropped 11 of 344 rows with a missing value (missing cells:" in r.out
    assert "label column 'species' of penguins.csv: 333 rows" in r.out
    rows = csv_rows(out / "final_efficiency_results.csv")
    assert {x["Params"] for x in rows if x["Architecture"] == "Light"} == {
        str(LIGHT.param_count(10))
    }


def test_refuse_is_one_line_exit_2_and_creates_nothing(symact, tmp_path, capsys):
    out = tmp_path / "out"
    r = symact(
        "benchmark",
        "--datasets",
        PENGUINS,
        *ADELIE,
        "--missing",
        "refuse",
        *FAST,
        "--out",
        str(out),
    )
    assert r.status == 2
    assert r.error == (
        f"error: {PENGUINS}: column 'bill_length_mm' is missing in data row 4 (2 rows in all; "
        "4 other column(s) have missing cells too); pass --missing impute to fill them from "
        "each split's training rows, or --missing drop to leave those rows out"
    )
    assert not out.exists() or listing(out) == []
    with pytest.raises(SystemExit) as exit_:  # argparse's own check of the choices
        symact("benchmark", "--datasets", PENGUINS, "--missing", "mean", *FAST)
    assert exit_.value.code == 2
    assert "argument --missing: invalid choice: 'mean'" in capsys.readouterr().err


def test_discover_imputes_its_sample_and_prints_the_note(symact):
    r = symact("discover", "--dataset", PENGUINS, *ADELIE, *TINY_GP)
    assert r.status == 0, r.err
    assert FILLED in r.out.splitlines()
    assert "dataset     PENGUINS (344 rows, 15 features)" in r.out


def test_search_runs_on_a_file_with_missing_values(symact, tmp_path):
    out = tmp_path / "search"
    r = symact(
        "search",
        "--dataset",
        PENGUINS,
        *ADELIE,
        "--specialist",  # gplearn on the training part, imputed from its own sample
        "--budget",
        "8",
        "--population",
        "4",
        "--tournament",
        "2",
        "--epochs",
        "1",
        "--search-seeds",
        "1",
        "--final-seeds",
        "3",
        "--final-epochs",
        "1",
        "--rerank",
        "2",
        "--top",
        "1",
        *TINY_GP,
        "--device",
        "cpu",
        "--out",
        str(out),
    )
    assert r.status == 0, r.err
    assert FILLED in r.out.splitlines()
    assert (out / "search_report.html").exists()
