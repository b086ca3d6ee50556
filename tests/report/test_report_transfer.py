"""The transfer matrix: the statistics table's numbers per (source formula, target) cell."""

from __future__ import annotations

import numpy as np
import pytest
from test_report_plots import assert_png

from symact.report import (
    TRANSFER_COLUMNS,
    FormulaConfiguration,
    as_formula_configurations,
    plot_transfer_matrix,
    statistics_table,
    suite_formula_configurations,
    transfer_matrix,
)


def test_matrix_agrees_with_statistics_csv(paper_runs, paper_formulas):
    matrix = transfer_matrix(paper_runs, paper_formulas)
    assert list(matrix.columns) == list(TRANSFER_COLUMNS)
    assert len(matrix) == len(paper_formulas) == 15
    table = statistics_table(paper_runs)
    vs_light = table[(table["baseline"] == "Light ReLU") & (table["metric"] == "auc")]
    vs_light = vs_light.set_index(["dataset", "model"])
    for row in matrix.itertuples(index=False):
        stat = vs_light.loc[(row.target, row.model)]
        assert row.auc_diff == stat["mean_diff"] and row.p_holm == stat["p_holm"]
        assert (row.ci_low, row.ci_high, row.n_pairs) == (
            stat["ci_low"],
            stat["ci_high"],
            stat["n_pairs"],
        )
        aucs = [r.auc for r in paper_runs if r.dataset == row.target and r.model == row.model]
        assert row.auc_mean == pytest.approx(np.mean(aucs), abs=1e-15)
        assert row.role == ("specialist" if row.source == row.target else "transfer")
    higgs_on_forest = matrix[(matrix["source"] == "HIGGS") & (matrix["target"] == "FOREST_COVER")]
    assert list(higgs_on_forest["discovery_seed"]) == [42, 43, 44]
    assert (higgs_on_forest["ci_low"] > 0).all()  # the headline transfer, with 10 seeds


def test_heatmap_is_drawn(tmp_path, paper_runs, paper_formulas, builtin_runs, builtin_formulas):
    path = plot_transfer_matrix(
        transfer_matrix(paper_runs, paper_formulas), tmp_path / "transfer_matrix.png"
    )
    image = assert_png(path, 1000, 1000)
    assert image.shape[0] > image.shape[1]  # 9 source formulas x 3 targets: a tall figure
    small = plot_transfer_matrix(
        transfer_matrix(builtin_runs, builtin_formulas), tmp_path / "b.png"
    )
    assert_png(small, 600, 300)


def test_formula_text_is_drawn_literally(tmp_path, builtin_runs):
    # "$...$" would be mathtext to matplotlib; a formula is user text and must not be parsed
    formulas = [
        FormulaConfiguration("DIGITS", "DIGITS", "Light Hybrid (Specialist)", "$x^{2}$ & <b>", 1)
    ]
    matrix = transfer_matrix(builtin_runs, formulas)
    assert matrix["formula"].iloc[0] == "$x^{2}$ & <b>"
    assert_png(plot_transfer_matrix(matrix, tmp_path / "t.png"), 500, 250)


def test_suite_labels_and_validation():
    configs = suite_formula_configurations(
        {"HIGGS": "mul(cos(x), x)", "SPAMBASE": "sin(x)"}, ["HIGGS"], discovery_seed=42
    )
    assert [(c.dataset, c.source_dataset, c.model, c.role) for c in configs] == [
        ("HIGGS", "HIGGS", "Light Hybrid (Specialist)", "specialist"),
        ("SPAMBASE", "SPAMBASE", "Light Hybrid (Specialist)", "specialist"),
        ("SPAMBASE", "HIGGS", "Light Hybrid (Transfer)", "transfer"),
    ]
    two = suite_formula_configurations({"A": "x", "B": "sin(x)", "C": "cos(x)"}, ["A", "B"])
    assert [c.model for c in two if c.dataset == "C"] == [
        "Light Hybrid (Specialist)",
        "Light Hybrid (Transfer from A)",
        "Light Hybrid (Transfer from B)",
    ]
    with pytest.raises(ValueError, match="no formula for"):
        suite_formula_configurations({"A": "x"}, ["HIGGS"])
    row = {"dataset": "A", "source_dataset": "A", "model": "Light X", "formula": "x"}
    with pytest.raises(ValueError, match="described twice"):
        as_formula_configurations([row, row])
    assert as_formula_configurations([row])[0].discovery_seed is None
