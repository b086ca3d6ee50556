"""``symact benchmark --activations prelu,param:relu,...``: PReLU and the per-neuron
parametric form of a name or a formula, in the tables under readable labels, trained alike
on both training paths; a bad ``param:`` names the token."""

from __future__ import annotations

import json

import pytest
from cli_helpers import FAST, csv_rows

ACTIVATIONS = "prelu,param:relu,param:x*tanh(x)"


def test_a_benchmark_of_the_parametric_baselines_on_both_paths(symact, tmp_path, monkeypatch):
    runs = {}
    for path in ("fused", "torch"):
        monkeypatch.setenv("SYMACT_KERNELS", path)
        out = tmp_path / path
        r = symact("benchmark", "--datasets", "breast_cancer", "--activations", ACTIVATIONS,
                   *FAST, "--epochs", "4", "--out", str(out))  # fmt: skip
        assert r.status == 0, r.err
        rows = csv_rows(out / "final_efficiency_results.csv")
        assert sorted((x["Architecture"], x["Activation"]) for x in rows) == [
            ("Heavy", "ReLU"),
            ("Light", "PReLU"),
            ("Light", "param:ReLU"),
            ("Light", "param:mul(x, tanh(x))"),
        ]
        runs[path] = {x["model"]: x for x in csv_rows(out / "runs.csv")}
        stored = json.loads((out / "results.json").read_text())["runs"]
        assert {run["result"]["backend"] for run in stored} == {path}
        by = {run["formula"]: run for run in stored}
        assert by.keys() == {"relu", "prelu", "param:relu", "param:mul(x, tanh(x))"}
        # PReLU's learned slope, one per hidden layer, is reported like any learned constant
        assert len(by["prelu"]["result"]["learned_formulas"]) == 2
        assert "param:ReLU" in (out / "report.html").read_text()
    assert runs["fused"].keys() == runs["torch"].keys() and len(runs["fused"]) == 4
    for model, fused in runs["fused"].items():
        torch_run = runs["torch"][model]
        assert fused["failed"] == torch_run["failed"] == "False"
        assert float(fused["auc"]) == pytest.approx(float(torch_run["auc"]), abs=1e-3), model


@pytest.mark.parametrize("bad", ["param:", "param:param:relu", "param:foo(x)"])
def test_a_bad_parametric_activation_is_named_before_any_work(symact, tmp_path, bad):
    r = symact("benchmark", "--datasets", "breast_cancer", "--activations", f"relu,{bad}",
               *FAST, "--out", str(tmp_path / "out"))  # fmt: skip
    assert r.status == 2
    assert f"--activations: {bad!r}" in r.err and "param:<activation>" in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
