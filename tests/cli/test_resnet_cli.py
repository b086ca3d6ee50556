"""``--arch resnet``: the residual MLP of Gorishniy et al. 2021 as the Light network of a
benchmark and of a search, end to end on both training paths, and its flag mistakes."""

from __future__ import annotations

import json

import pytest
from cli_helpers import FAST, csv_rows


@pytest.mark.slow
def test_a_residual_benchmark_trains_alike_on_both_paths(symact, tmp_path, monkeypatch):
    runs = {}
    for path in ("fused", "torch"):
        monkeypatch.setenv("SYMACT_KERNELS", path)
        out = tmp_path / path
        r = symact("benchmark", "--datasets", "breast_cancer", "--arch", "resnet",
                   "--activations", "relu,x*tanh(x)", *FAST, "--epochs", "3",
                   "--out", str(out))  # fmt: skip
        assert r.status == 0, r.err
        results = json.loads((out / "results.json").read_text())
        assert results["protocol"]["light"] == {"hidden": [64, 32], "arch": "resnet", "blocks": 2}
        assert {run["result"]["backend"] for run in results["runs"]} == {path}
        # breast cancer's 30 features: projection 30*64+64, per block BN 2*64 and two Linears
        # 64*32+32 and 32*64+64, the head's BN 2*64 and 64+1 outputs
        block = 2 * 64 + 64 * 32 + 32 + 32 * 64 + 64
        light = {run["result"]["params"] for run in results["runs"]
                 if run["architecture"] == "Light"}  # fmt: skip
        assert light == {30 * 64 + 64 + 2 * block + 2 * 64 + 64 + 1}
        runs[path] = {x["model"]: x for x in csv_rows(out / "runs.csv")}
    for model, fused in runs["fused"].items():
        torch_run = runs["torch"][model]
        assert fused["failed"] == torch_run["failed"] == "False"
        assert float(fused["auc"]) == pytest.approx(float(torch_run["auc"]), abs=1e-3), model


@pytest.mark.slow
def test_a_search_of_a_residual_network_runs_end_to_end(symact, tmp_path):
    out = tmp_path / "search"
    small = ["--budget", "24", "--population", "12", "--tournament", "3", "--epochs", "2",
             "--final-seeds", "3", "--final-epochs", "2", "--rerank", "4", "--top", "2",
             "--no-specialist-baseline", "--device", "cpu"]  # fmt: skip
    r = symact("search", "--dataset", "breast_cancer", "--arch", "resnet", "--blocks", "1",
               *small, "--out", str(out))  # fmt: skip
    assert r.status == 0, r.err
    assert (out / "search_report.html").exists()
    found = json.loads((out / "search.json").read_text())
    assert '"arch": "resnet"' in json.dumps(found)


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--arch", "resnet", "--widths", "64,32,16"], "--arch resnet takes two widths"),
        (["--blocks", "2"], "--blocks applies to --arch resnet only"),
        (["--arch", "resnet", "--blocks", "0"], "blocks must be a positive integer"),
    ],
)
def test_architecture_mistakes_are_one_line(symact, tmp_path, flags, says):
    r = symact("benchmark", "--datasets", "breast_cancer", *FAST, *flags,
               "--out", str(tmp_path / "r"))  # fmt: skip
    assert says in r.error
    assert not (tmp_path / "r").exists()
