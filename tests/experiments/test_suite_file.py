"""Suite files: parsed into DataSpecs, every mistake one line naming the file, the entry and
the key, all of them at once; the shipped suite files validate against the data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from symact.data.errors import DataError
from symact.experiments import make_suite
from symact.experiments.specs import DataSpec
from symact.experiments.suite_file import load_suite_file, shipped_suite_files

TABULAR = Path(__file__).parents[1] / "fixtures" / "tabular"
REPO = Path(__file__).parents[2]
SHARED_TABULAR = (
    Path(os.environ.get("SYMACT_SHARED_DATA") or REPO.parent / "shared/data") / "tabular"
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "my-suite.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_entries_become_data_specs_with_their_own_options(tmp_path):
    path = write(
        tmp_path,
        """
[grid]
activations = ["relu", "x*tanh(x)"]
widths = [16, 8]
seeds = [1, 2]
epochs = 3
discovery = "none"

[[dataset]]
source = "german.csv.gz"
target = "class"
positive = 2
drop = ["x1"]
rows = 150

[[dataset]]
source = "contraceptive.csv.gz"
labels = "all"
missing = "drop"

[[dataset]]
source = "spambase"

[[dataset]]
source = "openml:0031"
""",
    )
    found = load_suite_file(path, data_dir=TABULAR)
    german, contraceptive, spam, credit = found.datasets
    assert german == DataSpec(
        str(TABULAR / "german.csv.gz"), rows=150, target="class", positive="2", drop=("x1",)
    )
    assert contraceptive.labels == "all" and contraceptive.name.endswith("contraceptive.csv.gz")
    assert spam == DataSpec("spambase") and credit == DataSpec("openml:31")
    assert found.name == "my-suite"
    suite = make_suite(str(path), data_dir=TABULAR)
    assert suite.name == "my-suite" and suite.datasets == found.datasets
    assert suite.activations == ("relu", "mul(x, tanh(x))")
    assert suite.light.hidden == (16, 8) and suite.seeds == (1, 2)
    assert suite.train.epochs == 3 and suite.discovery_method == "none"
    # the caller's settings win over the file's
    assert make_suite(str(path), data_dir=TABULAR, seeds=(7,)).seeds == (7,)


def test_a_file_beside_the_suite_file_wins_over_the_data_folder(tmp_path):
    (tmp_path / "german.csv.gz").write_bytes((TABULAR / "german.csv.gz").read_bytes())
    path = write(tmp_path, '[[dataset]]\nsource = "german.csv.gz"\n')
    found = load_suite_file(path, data_dir=TABULAR)
    assert found.datasets[0].name == str(tmp_path / "german.csv.gz")


def test_every_mistake_is_one_line_naming_file_entry_and_key(tmp_path):
    path = write(
        tmp_path,
        """
[grid]
epoch = 3
widths = [0]

[[dataset]]
source = "german.csv.gz"
trget = "class"

[[dataset]]
source = "nope.csv"

[[dataset]]
source = "banana.csv.gz"
rows = "many"
labels = "some"

[[dataset]]
target = "class"

[[dataset]]
source = "openml:abc"

[[dataset]]
source = "spambase"
positive = "1"

[[dataset]]
source = "titanic.csv.gz"

[[dataset]]
source = "titanic.csv.gz"
positive = "1.0"
""",
    )
    with pytest.raises(DataError) as caught:
        load_suite_file(path, data_dir=TABULAR)
    lines = str(caught.value).split("\nerror: ")
    assert all(line.startswith(f"{path}: ") for line in lines), lines
    expected = [
        "[grid]: unknown key 'epoch'; did you mean 'epochs'?",
        "[grid]: widths must be a non-empty list of widths (1-100000), got [0]",
        "dataset 1 (german.csv.gz): unknown key 'trget'; did you mean 'target'?",
        "dataset 2 (nope.csv): source 'nope.csv': no such file in",
        "dataset 3 (banana.csv.gz): rows must be a positive integer, got 'many'",
        "dataset 3 (banana.csv.gz): labels must be one of binary, all, got 'some'",
        "dataset 4: no source key",
        "dataset 5 (openml:abc): source 'openml:abc' is not an OpenML dataset",
        "dataset 6 (spambase): positive applies to files and OpenML datasets",
        "would both be called TITANIC in the tables",
    ]
    assert len(lines) == len(expected), lines
    for line, part in zip(lines, expected, strict=True):
        assert part in line, (part, line)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[dataset]\n", "not valid TOML"),
        ("", "no datasets; add at least one [[dataset]]"),
        ('sources = 1\n[[dataset]]\nsource = "spambase"\n', "unknown key 'sources'"),
        ('[grid]\nactivations = ["relu", "x**"]\n[[dataset]]\nsource = "wine"\n', "x**"),
    ],
)
def test_whole_file_mistakes(tmp_path, text, message):
    with pytest.raises(DataError, match=message.replace("[", r"\[").replace("*", r"\*")):
        load_suite_file(write(tmp_path, text))


def test_a_file_source_without_data_dir_says_to_pass_it(tmp_path):
    path = write(tmp_path, '[[dataset]]\nsource = "magic.csv.gz"\n')
    with pytest.raises(DataError, match="pass --data-dir with the folder holding it"):
        load_suite_file(path)


def test_shipped_suite_files_validate():
    shipped = shipped_suite_files()
    assert set(shipped) >= {"tabular", "openml-cc18"}
    cc18 = load_suite_file(shipped["openml-cc18"])
    assert all(d.name.startswith("openml:") for d in cc18.datasets)
    assert len({d.name for d in cc18.datasets}) == len(cc18.datasets) == 35


@pytest.mark.full_data
def test_the_development_suite_file_matches_its_manifest():
    """The shipped tabular suite names each of the 17 files, its label column, and a
    positive class that is one of the file's classes (binary) or keeps all classes."""
    manifest = json.loads((SHARED_TABULAR / "manifest.json").read_text())
    found = load_suite_file(shipped_suite_files()["tabular"], data_dir=SHARED_TABULAR)
    by_file = {Path(d.name).name: d for d in found.datasets}
    assert set(by_file) == {m["file"] for m in manifest}
    for m in manifest:
        spec = by_file[m["file"]]
        assert spec.target == m["target"]
        if m["task"] == "binary":
            assert spec.labels == "binary" and spec.positive in m["classes"]
        else:
            assert spec.labels == "all" and spec.positive is None


@pytest.mark.parametrize(
    ("line", "epochs", "patience"),
    [("", 300, 16), ('epochs = "auto"', 300, 16), ("epochs = 15", 15, None)],
)
def test_a_suite_file_trains_to_convergence_unless_it_fixes_its_epochs(
    tmp_path, line, epochs, patience
):
    path = write(tmp_path, f'[grid]\n{line}\n\n[[dataset]]\nsource = "german.csv.gz"\n')
    train = make_suite(str(path), data_dir=TABULAR).train
    assert (train.epochs, train.patience) == (epochs, patience)


def test_a_suite_files_epochs_must_be_a_number_or_auto(tmp_path):
    path = write(tmp_path, '[grid]\nepochs = "soon"\n\n[[dataset]]\nsource = "german.csv.gz"\n')
    with pytest.raises(DataError, match=r"epochs.*must be a positive integer or 'auto'"):
        load_suite_file(path, data_dir=TABULAR)
