"""``symact benchmark --discovery-part``: its checks, and what a run with it says."""

from __future__ import annotations

import json

import pytest
from cli_helpers import csv_rows

QUICK = ["--datasets", "breast_cancer", "--seeds", "42,43", "--epochs", "1", "--device", "cpu",
         "--heavy-widths", "none", "--activations", "relu", "--population-size", "60",
         "--generations", "2"]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--discovery", "none"], "error: --discovery-part train needs --discovery gplearn"),
        (["--learnable-constants"], "error: --discovery-part train gives each seed its own"),
    ],
)
def test_train_part_refuses_what_it_cannot_do(symact, tmp_path, extra, expected):
    out = tmp_path / "out"
    r = symact("benchmark", *QUICK, "--discovery-part", "train", *extra, "--out", str(out))
    assert r.status == 2 and r.error.startswith(expected)
    assert not out.exists()


def test_a_train_part_run_says_so_everywhere(symact, tmp_path):
    out = tmp_path / "out"
    r = symact("benchmark", *QUICK, "--discovery-part", "train", "--out", str(out))
    assert r.status == 0, r.err
    assert "BREAST_CANCER (training part of split 42): " in r.out
    assert "BREAST_CANCER (training part of split 43): " in r.out
    results = json.loads((out / "results.json").read_text())
    assert results["protocol"]["discovery_part"] == "train"
    assert sorted(results["discoveries"]) == [
        "BREAST_CANCER (split 42)",
        "BREAST_CANCER (split 43)",
    ]
    assert {row["discovery_rows"] for row in csv_rows(out / "claims.csv")} == {
        "training part of each split"
    }
    assert "no formula has seen the test rows" in (out / "report.html").read_text()
