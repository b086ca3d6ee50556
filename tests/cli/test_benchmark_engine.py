"""``--engine operon``: a benchmark discovers with Operon end to end on a real slice, keeps
the engine in its keys and records, and resumes."""

from __future__ import annotations

import json

import pytest
from cli_helpers import csv_rows

from symact.experiments.store import ResultsStore

pytest.importorskip("pyoperon", reason="the operon extra: pip install 'symact[operon]'")

QUICK = ["--datasets", "spambase", "--seeds", "42", "--epochs", "1", "--device", "cpu",
         "--heavy-widths", "none", "--activations", "relu", "--population-size", "60",
         "--generations", "2"]  # fmt: skip


def test_benchmark_with_operon_runs_end_to_end_and_resumes(symact, tmp_path, canonical_data_dir):
    out = tmp_path / "out"
    argv = ["benchmark", *QUICK, "--data-dir", str(canonical_data_dir), "--out", str(out)]
    r = symact(*argv, "--engine", "operon")
    assert r.status == 0, r.err
    results = json.loads((out / "results.json").read_text())
    assert results["protocol"]["discovery"] == "operon"
    (record,) = results["discoveries"].values()
    assert record["method"] == "operon"
    assert [f["formula"] for f in results["formulas"]] == [record["activation"]]
    with ResultsStore(out / "symact.sqlite") as store:
        assert store.count() == 2  # Light ReLU and the Specialist
    rows = {row["Activation"]: row for row in csv_rows(out / "final_efficiency_results.csv")}
    assert 0.5 < float(rows["Hybrid (Specialist)"]["AUC"].split(" ")[0]) <= 1.0

    again = symact(*argv, "--engine", "operon")
    assert again.status == 0, again.err
    with ResultsStore(out / "symact.sqlite") as store:
        assert store.count() == 2 and store.count("discoveries") == 1

    # gplearn's discovery of the same data has its own key: both live in one folder
    gp = symact(*argv)
    assert gp.status == 0, gp.err
    (gp_record,) = json.loads((out / "results.json").read_text())["discoveries"].values()
    assert "method" not in gp_record and gp_record["program"] != record["program"]
    with ResultsStore(out / "symact.sqlite") as store:
        assert store.count("discoveries") == 2


def test_engine_without_the_function_is_refused_before_work(symact, tmp_path):
    out = tmp_path / "out"
    r = symact("benchmark", *QUICK, "--engine", "operon", "--function-set", "add,log",
               "--out", str(out))  # fmt: skip
    assert r.error.startswith("error: function 'log' has no equal Operon symbol")
    assert not out.exists()
