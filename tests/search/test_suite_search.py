"""``symact search --suite FILE --holdout ...``: one population over several real datasets,
its fitness recomputed from the stored runs, held-out datasets never trained on before the
verdict, the transfer statistics across them, bad input refused before any work, and
resume after a real interrupt training nothing twice."""

from __future__ import annotations

import csv
import json
import math
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from search_args import interrupt_when_stored

from symact.cli import main
from symact.report.statistics import holm
from symact.search.aggregate import MIN_SCALE
from symact.search.transfer import transfer_summary

TABULAR = Path(__file__).parents[1] / "fixtures" / "tabular"
SUITE = TABULAR / "search_suite.toml"
SEARCH_SEEDS = (1, 2)
SELECT_SEEDS = tuple(range(501, 507))  # the default six
SMALL = [
    "--budget", "16", "--population", "8", "--tournament", "3", "--epochs", "1",
    "--final-seeds", "3", "--final-epochs", "2", "--rerank", "3", "--top", "2",
    "--widths", "8", "--no-specialist-baseline", "--device", "cpu",
]  # fmt: skip


def _argv(out: Path, *extra: str) -> list[str]:
    return ["search", "--suite", str(SUITE), "--data-dir", str(TABULAR), "--out", str(out),
            "--holdout", "german,breast_cancer", *SMALL, *extra]  # fmt: skip


def _runs(out: Path) -> list[tuple[str, dict, dict, str]]:
    with sqlite3.connect(out / "symact.sqlite") as conn:
        rows = conn.execute("SELECT key, spec, result, finished_at FROM runs").fetchall()
    return [(k, json.loads(s), json.loads(r), t) for k, s, r, t in rows]


def _dataset(spec: dict) -> str:
    return Path(spec["data"]["name"]).name.split(".", 1)[0].upper()


def _activation(spec: dict) -> str:
    """A stored run's activation as the verdict writes it (``param:relu``; a spec's dict
    leaves out fields at their default, ``relu`` among them)."""
    model = spec["model"]
    return ("param:" if model.get("parametric") else "") + model.get("activation", "relu")


def _mean_of(runs, metric: str, dataset, activation, hidden, seeds, epochs) -> float:
    """The mean ``metric`` over ``seeds`` of the stored runs of one configuration (every
    seed must be there)."""
    found = {
        spec["seed"]: result[metric]
        for _, spec, result, _ in runs
        if _dataset(spec) == dataset
        and _activation(spec) == activation
        and spec["model"]["hidden"] == hidden
        and spec["train"]["epochs"] == epochs
        and spec["seed"] in seeds
    }
    assert sorted(found) == sorted(seeds), (dataset, activation)
    return float(np.mean([found[s] for s in seeds]))


def _fitness(runs, metric: str, formula: str, labels, seeds, epochs) -> float:
    """A suite search's fitness by its definition: the mean over ``labels`` of the Light
    network's ``metric`` with ``formula``, less Light ReLU's, over |Heavy − Light ReLU|."""
    parts = []
    for label in labels:
        light = _mean_of(runs, metric, label, "relu(x)", [8], seeds, epochs)
        heavy = _mean_of(runs, metric, label, "relu(x)", [200, 100], seeds, epochs)
        mine = _mean_of(runs, metric, label, formula, [8], seeds, epochs)
        parts.append((mine - light) / max(abs(heavy - light), MIN_SCALE))
    return float(np.mean(parts))


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_a_suite_search_with_holdouts_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(_argv(out)) == 0
    printed = capsys.readouterr().out
    assert "Across the 2 held-out datasets, candidate 1" in printed
    assert "Across the 2 searched datasets" not in printed  # in the tables, not the sentences
    doc = json.loads((out / "search.json").read_text())
    assert doc["datasets"] == ["BANANA", "TITANIC"]
    assert doc["holdout"] == ["GERMAN", "BREAST_CANCER"]
    runs = _runs(out)

    # the held-out datasets: no run of the search or the selection, only the verdict's
    held = [spec for _, spec, _, _ in runs if _dataset(spec) in ("GERMAN", "BREAST_CANCER")]
    finals = {e["formula"] for e in doc["entries"]}
    assert held and all(spec["seed"] not in SEARCH_SEEDS for spec in held)
    assert {_activation(spec) for spec in held} <= finals
    assert all(spec["model"]["hidden"] == [8] for spec in held)  # no Heavy reference there
    assert all(spec["train"]["epochs"] == 2 for spec in held)  # none at the search's length
    searched = {_dataset(spec) for _, spec, _, _ in runs if spec["seed"] in SEARCH_SEEDS}
    assert searched == {"BANANA", "TITANIC"}

    # the fitness is its definition, recomputed from the stored runs
    trained = [c for c in doc["candidates"] if c["status"] == "trained"]
    assert len(trained) == 16
    for c in trained:
        fitness = _fitness(runs, "auc", c["formula"], ("BANANA", "TITANIC"), SEARCH_SEEDS, 1)
        assert c["fitness"] == pytest.approx(fitness, abs=1e-12), c["formula"]
    relu = next(c for c in trained if c["formula"] == "relu(x)")
    assert relu["fitness"] == 0.0  # Light ReLU is the zero of every dataset's scale

    # the finalists were chosen on the same aggregate at the verdict's length (select seeds)
    results = _csv(out / "search_results.csv")
    chosen = [
        r["formula"]
        for r in results
        if r["dataset"] == "BANANA" and r["activation"].startswith("candidate")
    ]
    select = [_fitness(runs, "auc", f, ("BANANA", "TITANIC"), SELECT_SEEDS, 2) for f in chosen]
    assert select == sorted(select, reverse=True)

    # the matrix: per held-out dataset and finalist, the verdict's difference; Holm over the
    # held-out datasets; the summary's counts and Wilcoxon verdict from it
    matrix = pd.read_csv(out / "search_matrix.csv")
    summary = pd.read_csv(out / "search_transfer.csv")
    best = {(r["dataset"], r["activation"]): r for r in results}
    cells = matrix[(matrix["group"] == "held out") & (matrix["baseline"] == "best baseline")]
    assert set(cells["dataset"]) == {"GERMAN", "BREAST_CANCER"}
    for finalist, mine in cells.groupby("finalist"):
        p = [float(best[(d, finalist)]["p_value"]) for d in mine["dataset"]]
        assert list(mine["p_holm"]) == pytest.approx(holm(p), nan_ok=True)
        for r in mine.itertuples():
            assert r.diff == pytest.approx(
                float(best[(r.dataset, finalist)]["diff_vs_best_baseline"])
            )
        row = summary[(summary["group"] == "held out") & (summary["finalist"] == finalist)
                      & (summary["baseline"] == "best baseline")].iloc[0]  # fmt: skip
        assert row["wins"] + row["ties"] + row["losses"] == 2
        assert row["wilcoxon_verdict"] == "not decidable: needs 6 datasets"
    assert set(summary["baseline"]) == {"Light ReLU", "best baseline"}
    assert set(summary["group"]) == {"searched", "held out"}
    record = json.loads((out / "search.json").read_text())["transfer"]
    assert len(record["matrix"]) == len(matrix) and len(record["summary"]) == len(summary)
    html = (out / "search_report.html").read_text()
    assert "Dataset x finalist, against Light ReLU" in html and "Across datasets" in html

    # `symact report` rebuilds the same tables from the store alone
    (out / "search_matrix.csv").unlink()
    assert main(["report", str(out)]) == 0
    assert pd.read_csv(out / "search_matrix.csv").equals(matrix)


def test_transfer_summary_is_holm_and_wilcoxon_across_datasets():
    """The summary's counts follow the cells' Holm verdicts and its Wilcoxon is scipy's
    signed-rank test (zeros split) of the per-dataset mean differences."""
    rng = np.random.default_rng(7)
    diffs = rng.normal(0.01, 0.01, size=8)
    p = rng.uniform(0.0, 0.05, size=8)
    q = holm(list(p))
    cells = ["better" if qi < 0.05 and d > 0 else "worse" if qi < 0.05 else "tie"
             for d, qi in zip(diffs, q, strict=True)]  # fmt: skip
    matrix = pd.DataFrame(
        {
            "group": "held out",
            "dataset": [f"D{i}" for i in range(8)],
            "finalist": "candidate 1",
            "formula": "x*tanh(x)",
            "baseline": "Light ReLU",
            "baseline_activation": "ReLU",
            "diff": diffs,
            "ci_low": diffs - 0.01,
            "ci_high": diffs + 0.01,
            "p_value": p,
            "p_holm": q,
            "cell": cells,
        }
    )
    row = transfer_summary(matrix).iloc[0]
    assert row["n_datasets"] == 8
    assert row["wins"] == cells.count("better") and row["losses"] == cells.count("worse")
    assert row["wins"] + row["ties"] + row["losses"] == 8
    expected = stats.wilcoxon(diffs, zero_method="zsplit")
    assert row["wilcoxon_p"] == pytest.approx(expected.pvalue)
    assert row["wilcoxon_statistic"] == pytest.approx(expected.statistic)
    verdict = "no difference" if expected.pvalue >= 0.05 else "better"
    assert row["wilcoxon_verdict"] == verdict
    assert row["median_diff"] == pytest.approx(float(np.median(diffs)))


def test_bad_suite_search_input_is_one_line_before_any_work(tmp_path, capsys):
    mixed = tmp_path / "mixed.toml"
    mixed.write_text(
        SUITE.read_text()
        + '\n[[dataset]]\nsource = "contraceptive.csv.gz"\ntarget = "class"\nlabels = "all"\n'
    )
    base = ["--suite", str(SUITE), "--data-dir", str(TABULAR)]
    cases = [
        ([*base, "--holdout", "magic"], "--holdout 'magic' is not an entry of"),
        (
            [*base, "--dataset", "banana,german", "--holdout", "german"],
            "--holdout 'german' is also searched (--dataset 'german')",
        ),
        (
            [*base, "--holdout", "banana,titanic,german,breast_cancer"],
            "--holdout: every entry of",
        ),
        (
            ["--suite", str(mixed), "--data-dir", str(TABULAR), "--holdout", "german"],
            "needs them all binary or all multi-class",
        ),
        ([*base, "--dataset", "banana,titanic", "--specialist"], "--specialist"),
        (["--holdout", "german"], "--dataset: name the dataset to search"),
        ([*base, "--dataset", "banana,banana"], "'banana' is listed twice"),
    ]
    out = tmp_path / "never"
    for argv, message in cases:
        assert main(["search", *argv, "--out", str(out)]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)
        assert len(err.strip().splitlines()) == 1, err
    assert not out.exists()


@pytest.mark.slow
def test_an_interrupted_suite_search_resumes_without_training_twice(tmp_path):
    longer = ["--budget", "60", "--population", "12", "--epochs", "2"]
    assert main(_argv(tmp_path / "whole", *longer)) == 0
    out = tmp_path / "interrupted"
    db = out / "symact.sqlite"
    cmd = [sys.executable, "-m", "symact", *_argv(out, *longer)]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # interrupted once the references, the first generation and some more are stored
    interrupt_when_stored(cmd, db, 60, env)
    before = {key: finished for key, _, _, finished in _runs(out)}
    whole = {key for key, _, _, _ in _runs(tmp_path / "whole")}
    assert 60 <= len(before) < len(whole)
    rerun = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    after = {key: finished for key, _, _, finished in _runs(out)}
    # nothing trained twice: every run kept from the interrupted session is the same commit,
    # and the rerun trained exactly the runs the uninterrupted search has and it lacked
    assert {k: after[k] for k in before} == before
    assert set(after) == whole
    a = json.loads((out / "search.json").read_text())
    b = json.loads((tmp_path / "whole" / "search.json").read_text())
    assert [(c["formula"], c["fitness"]) for c in a["candidates"]] == [
        (c["formula"], c["fitness"]) for c in b["candidates"]
    ]
    assert _csv(out / "search_results.csv") == _csv(tmp_path / "whole" / "search_results.csv")
    assert not any(math.isnan(float(r["test_auc_mean"])) for r in _csv(out / "search_results.csv"))


@pytest.mark.slow
def test_a_multiclass_suite_search_is_judged_on_accuracy(tmp_path):
    """Three-class datasets (contraceptive; penguins, with missing cells; wine held out):
    the fitness is each dataset's normalized validation accuracy, and every verdict row
    compares accuracies."""
    penguins = Path(__file__).parents[1] / "fixtures" / "data" / "penguins.csv"
    suite = tmp_path / "classes.toml"
    suite.write_text(
        f'[[dataset]]\nsource = "{TABULAR / "contraceptive.csv.gz"}"\ntarget = "class"\n'
        'labels = "all"\n\n'
        f'[[dataset]]\nsource = "{penguins}"\ntarget = "species"\nlabels = "all"\n\n'
        '[[dataset]]\nsource = "wine"\nlabels = "all"\n'
    )
    out = tmp_path / "out"
    argv = ["search", "--suite", str(suite), "--data-dir", str(tmp_path), "--out", str(out),
            "--holdout", "wine", *SMALL]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads((out / "search.json").read_text())
    assert doc["datasets"] == ["CONTRACEPTIVE", "PENGUINS"] and doc["holdout"] == ["WINE"]
    runs = _runs(out)
    assert {spec["model"]["n_outputs"] for _, spec, _, _ in runs} == {3}

    searched = ("CONTRACEPTIVE", "PENGUINS")
    for c in (c for c in doc["candidates"] if c["status"] == "trained"):
        fitness = _fitness(runs, "accuracy", c["formula"], searched, SEARCH_SEEDS, 1)
        assert c["fitness"] == pytest.approx(fitness, abs=1e-12), c["formula"]
    # the verdict: per dataset, each finalist against the best baseline in accuracy
    results = _csv(out / "search_results.csv")
    assert {r["dataset"] for r in results} == {"CONTRACEPTIVE", "PENGUINS", "WINE"}
    finals = {
        (_dataset(spec), _activation(spec), spec["seed"]): result["accuracy"]
        for _, spec, result, _ in runs
        if spec["seed"] >= 1001
    }
    for r in results:
        if not r["activation"].startswith("candidate"):
            continue
        best = next(
            b
            for b in results
            if b["dataset"] == r["dataset"] and b["activation"] == r["best_baseline"]
        )
        diffs = [
            finals[(r["dataset"], r["formula"], s)] - finals[(r["dataset"], best["formula"], s)]
            for s in range(1001, 1004)
        ]
        assert float(r["diff_vs_best_baseline"]) == pytest.approx(np.mean(diffs), abs=1e-12)
