"""``--reference lightgbm``: GBDT context on every dataset and seed of a benchmark, on the
runs' own splits, stored and resumed, in the tables and never in the claims."""

from __future__ import annotations

import json

import pytest
from cli_helpers import FAST, csv_rows

from symact.experiments.store import ResultsStore

pytest.importorskip("lightgbm", reason="the lightgbm extra: pip install 'symact[lightgbm]'")

ARGS = [*FAST, "--seeds", "42,43", "--datasets", "spambase", "--heavy-widths", "none",
        "--activations", "relu,gelu", "--reference", "lightgbm"]  # fmt: skip


def test_reference_row_is_context_and_resumes(symact, tmp_path, canonical_data_dir):
    out = tmp_path / "out"
    argv = ["benchmark", *ARGS, "--data-dir", str(canonical_data_dir), "--out", str(out)]
    r = symact(*argv)
    assert r.status == 0, r.err
    assert "LightGBM" in r.out  # the printed table
    rows = {row["Activation"]: row for row in csv_rows(out / "final_efficiency_results.csv")}
    gbdt = rows["LightGBM"]
    assert gbdt["Architecture"] == "Reference"
    auc = float(gbdt["AUC"].split(" ")[0])
    assert 0.9 < auc <= 1.0  # spambase: trees separate spam well
    assert int(gbdt["Params"]) > 100
    results = json.loads((out / "results.json").read_text())
    assert results["protocol"]["reference"] == "lightgbm"
    seed_aucs = [r["result"]["auc"] for r in results["references"]]
    assert [r["seed"] for r in results["references"]] == [42, 43]
    assert sum(seed_aucs) / 2 == pytest.approx(auc, abs=5e-4)  # the table's mean, 3 decimals
    assert (out / "accuracy_vs_params.png").stat().st_size > 0
    # the claims and statistics compare networks only
    statistics = (out / "statistics.csv").read_text()
    assert "Light GELU" in statistics and "LightGBM" not in statistics
    for name in ("claims.csv", "paired_vs_heavy.csv", "transfer_matrix.csv"):
        path = out / name
        if path.exists():
            assert "LightGBM" not in path.read_text(), name
    assert "LightGBM" in (out / "summary.csv").read_text()
    assert "LightGBM" in (out / "report.html").read_text()  # its efficiency table
    with ResultsStore(out / "symact.sqlite") as store:
        stored = store.count()
    assert stored == 2 * 2 + 2  # two Light runs per seed, and LightGBM per seed

    again = symact(*argv)
    assert again.status == 0, again.err
    with ResultsStore(out / "symact.sqlite") as store:
        assert store.count() == stored
    rows_again = {row["Activation"]: row for row in csv_rows(out / "final_efficiency_results.csv")}
    assert rows_again["LightGBM"] == gbdt


def test_reference_keys_name_the_split_and_the_data(canonical_data_dir):
    from symact.experiments.datacache import DataCache
    from symact.experiments.reference import ReferenceSpec
    from symact.experiments.specs import DataSpec, SplitSpec

    cache = DataCache(canonical_data_dir)
    data = cache.identify(DataSpec("spambase"))
    a = ReferenceSpec(data, 42, SplitSpec(42))
    assert a.key() != ReferenceSpec(data, 43, SplitSpec(43)).key()
    assert a.key() != ReferenceSpec(DataSpec("spambase"), 42, SplitSpec(42)).key()
    assert "fingerprint" in a.to_dict()["data"]
