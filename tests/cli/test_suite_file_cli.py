"""``symact benchmark --suite FILE``: one results folder with every entry of the file, each
with its own label options; a broken file is refused whole, before anything is imported or
created; flags override the file's grid."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import listing

TABULAR = Path(__file__).parents[1] / "fixtures" / "tabular"

SUITE = """
[grid]
activations = ["relu", "x*tanh(x)"]
widths = [8]
heavy_widths = "none"
seeds = [42, 43]
epochs = 1
discovery = "none"

[[dataset]]
source = "german.csv.gz"
target = "class"
positive = "2"

[[dataset]]
source = "contraceptive.csv.gz"
target = "class"
labels = "all"

[[dataset]]
source = "breast_cancer"
rows = 300
"""


def test_a_suite_file_runs_every_entry_into_one_folder(symact, tmp_path):
    suite = tmp_path / "small.toml"
    suite.write_text(SUITE)
    out = tmp_path / "out"
    r = symact(
        "benchmark", "--suite", str(suite), "--data-dir", str(TABULAR), "--seeds", "42",
        "--device", "cpu", "--out", str(out),
    )  # fmt: skip
    assert r.status == 0, r.err
    assert (
        "note GERMAN: label column 'class' of german.csv.gz: 200 rows; "
        "class 0 '1': 136, class 1 '2': 64" in r.out
    )
    with open(out / "runs.csv", newline="") as fh:
        runs = list(csv.DictReader(fh))
    # 3 datasets x 2 activations x 1 seed (--seeds overrides the file's two), no Heavy
    assert len(runs) == 6
    assert {r["dataset"] for r in runs} == {"GERMAN", "CONTRACEPTIVE", "BREAST_CANCER"}
    assert {r["model"] for r in runs} == {"Light ReLU", "Light mul(x, tanh(x))"}
    assert {r["seed"] for r in runs} == {"42"}
    doc = json.loads((out / "results.json").read_text())
    assert doc["suite"] == "small"
    # each entry kept its own options: the multi-class one trained with 3 outputs
    assert "CONTRACEPTIVE" in (out / "report.html").read_text()
    again = symact(
        "benchmark", "--suite", str(suite), "--data-dir", str(TABULAR), "--seeds", "42",
        "--device", "cpu", "--out", str(out),
    )  # fmt: skip
    assert again.status == 0 and "0 trained, 6 already stored" in again.out


BROKEN = """
[[dataset]]
source = "german.csv.gz"
postive = "2"

[[dataset]]
source = "missing-file.csv"
"""

CHILD = """
import sys, json, io, contextlib
from symact.cli import main
err = io.StringIO()
with contextlib.redirect_stderr(err):
    status = main(sys.argv[1:])
heavy = [m for m in ("torch", "matplotlib", "sklearn", "openml") if m in sys.modules]
print(json.dumps({"status": status, "heavy": heavy, "err": err.getvalue()}))
"""


def test_a_broken_suite_file_is_refused_whole_before_any_work(tmp_path):
    suite = tmp_path / "broken.toml"
    suite.write_text(BROKEN)
    before = listing(tmp_path)
    argv = ["benchmark", "--suite", str(suite), "--data-dir", str(TABULAR)]
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *argv], capture_output=True, text=True, cwd=tmp_path
    )
    seconds = time.perf_counter() - start
    result = json.loads(done.stdout)
    assert result["status"] == 2 and result["heavy"] == []
    lines = result["err"].strip().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"error: {suite}: dataset 1 (german.csv.gz): unknown key 'postive'")
    assert "did you mean 'positive'?" in lines[0]
    assert lines[1].startswith(f"error: {suite}: dataset 2 (missing-file.csv): source")
    assert listing(tmp_path) == before  # no results/ folder
    print(f"refused in {seconds:.2f} s (interpreter start included)")


def test_suite_flag_mistakes(symact, tmp_path):
    suite = tmp_path / "s.toml"
    suite.write_text('[[dataset]]\nsource = "wine"\n')
    r = symact("benchmark", "--suite", "nonsense")
    assert "--suite 'nonsense': choose paper, builtin, a shipped suite file" in r.error
    assert "tabular" in r.error
    r = symact("benchmark", "--suite", str(suite), "--datasets", "wine")
    assert "--datasets and --suite FILE both name the datasets" in r.error
    r = symact("benchmark", "--suite", str(suite), "--positive", "1")
    assert "--positive: a suite file sets it for each dataset" in r.error
    r = symact("benchmark", "--suite", str(tmp_path / "absent.toml"))
    assert "suite file not found" in r.error
    r = symact("benchmark", "--datasets", "openml:x1")
    assert "--datasets: 'openml:x1' is not an OpenML dataset" in r.error
    multi = tmp_path / "multi.toml"
    multi.write_text(
        f'[[dataset]]\nsource = "{TABULAR / "contraceptive.csv.gz"}"\nlabels = "all"\n'
    )
    r = symact("benchmark", "--suite", str(multi))
    assert "has labels = 'all', and the paper's gplearn discovery fits binary" in r.error


def test_discover_takes_a_suite_entry(symact, tmp_path):
    suite = tmp_path / "small.toml"
    suite.write_text(SUITE)
    args = ["--suite", str(suite), "--data-dir", str(TABULAR)]
    gp = ["--generations", "1", "--population-size", "30"]
    r = symact("discover", "--dataset", "german", *args, *gp)
    assert r.status == 0, r.err
    assert "dataset     GERMAN (200 rows" in r.out
    r = symact("discover", "--dataset", "magic", *args, *gp)
    assert "--dataset 'magic' is not an entry of" in r.error
    assert "german.csv.gz, contraceptive.csv.gz, breast_cancer" in r.error


@pytest.mark.slow
def test_search_takes_suite_entries(symact, tmp_path):
    """``search --suite FILE --dataset ENTRY --evaluate-on ENTRY``: each dataset with the label
    options its entry gives (german's class 2 as positive), as ``discover`` takes them."""
    suite = tmp_path / "small.toml"
    suite.write_text(SUITE)
    small = ["--budget", "16", "--population", "8", "--tournament", "3", "--epochs", "1",
             "--final-seeds", "3", "--final-epochs", "1", "--rerank", "2", "--top", "1",
             "--no-specialist-baseline", "--device", "cpu"]  # fmt: skip
    out = tmp_path / "search"
    r = symact("search", "--suite", str(suite), "--data-dir", str(TABULAR), "--dataset",
               "german", "--evaluate-on", "breast_cancer", *small, "--out", str(out))  # fmt: skip
    assert r.status == 0, r.err
    found = json.loads((out / "search.json").read_text())
    text = json.dumps(found)
    assert '"target": "class"' in text and '"positive": "2"' in text
    assert "BREAST_CANCER" in (out / "search_results.csv").read_text()
    r = symact("search", "--suite", str(suite), "--data-dir", str(TABULAR), "--dataset",
               "german", "--evaluate-on", "magic", *small, "--out", str(out))  # fmt: skip
    assert "--evaluate-on 'magic' is not an entry of" in r.error
