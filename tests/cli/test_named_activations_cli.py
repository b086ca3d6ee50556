"""``symact benchmark --activations elu,selu,mish,leaky_relu``: the baselines reviewers expect,
by name, in the tables under their usual spelling, trained alike on both training paths."""

from __future__ import annotations

import json

import pytest
from cli_helpers import FAST, csv_rows


def test_a_benchmark_of_the_named_baselines_on_both_paths(symact, tmp_path, monkeypatch):
    runs = {}
    for path in ("fused", "torch"):
        monkeypatch.setenv("SYMACT_KERNELS", path)
        out = tmp_path / path
        # 4 epochs: 4 Adam steps (the first one moves every weight by lr, whatever the path)
        r = symact("benchmark", "--datasets", "breast_cancer", "--activations",
                   "elu,selu,mish,leaky_relu", *FAST, "--epochs", "4",
                   "--out", str(out))  # fmt: skip
        assert r.status == 0, r.err
        assert "note --activations" not in r.out  # none is linear or rejected by the screen
        rows = csv_rows(out / "final_efficiency_results.csv")
        assert sorted((x["Architecture"], x["Activation"]) for x in rows) == [
            ("Heavy", "ReLU"),
            ("Light", "ELU"),
            ("Light", "LeakyReLU"),
            ("Light", "Mish"),
            ("Light", "SELU"),
        ]
        runs[path] = {x["model"]: x for x in csv_rows(out / "runs.csv")}
        stored = json.loads((out / "results.json").read_text())["runs"]
        assert {run["result"]["backend"] for run in stored} == {path}
    assert runs["fused"].keys() == runs["torch"].keys() and len(runs["fused"]) == 5
    for model, fused in runs["fused"].items():
        torch_run = runs["torch"][model]
        assert fused["failed"] == torch_run["failed"] == "False"
        # the same models to float32 rounding: the same test scores, give or take one row
        assert float(fused["auc"]) == pytest.approx(float(torch_run["auc"]), abs=1e-3), model
        assert abs(float(fused["accuracy"]) - float(torch_run["accuracy"])) <= 1 / 114 + 1e-12
