"""Real run records for the report tests (see fixtures/README.md for how they were made)."""

from __future__ import annotations

import pytest
from report_fixtures import FIXTURES, load_formulas, load_runs
from report_inputs import HOSTILE_FORMULA, HOSTILE_PATH

from symact.report import FormulaConfiguration, ReportTable, RunRecord


@pytest.fixture(scope="session")
def builtin_runs() -> list[RunRecord]:
    """60 runs: BREAST_CANCER and DIGITS, 6 configurations x 5 seeds."""
    return load_runs("builtin_5seeds")


@pytest.fixture(scope="session")
def paper_runs() -> list[RunRecord]:
    """270 runs: the paper's protocol, 10 seeds, 3 discovery seeds per dataset."""
    return load_runs("paper_10seeds")


@pytest.fixture(scope="session")
def builtin_formulas() -> list[FormulaConfiguration]:
    return load_formulas("builtin_5seeds")


@pytest.fixture(scope="session")
def paper_formulas() -> list[FormulaConfiguration]:
    return load_formulas("paper_10seeds")


@pytest.fixture(scope="session")
def report_data(builtin_runs, builtin_formulas, tmp_path_factory):
    """A ReportData of a real paper-sized run (60 runs, 5 seeds) with real figures drawn from
    it, plus a hostile formula label and data path that must show literally."""
    import json

    from symact.formula import parse_formula
    from symact.report import (
        ReportData,
        ReportFigure,
        build_review,
        plot_accuracy_vs_params,
        plot_activations_combined,
        plot_transfer_matrix,
        review_tables,
    )

    folder = tmp_path_factory.mktemp("report_figures")
    formulas = [*builtin_formulas]
    hostile = FormulaConfiguration(
        "DIGITS", "DIGITS", "Light Hybrid (Specialist)", HOSTILE_FORMULA, 7
    )
    review = build_review(builtin_runs, formulas)
    provenance = json.loads((FIXTURES / "builtin_5seeds_provenance.json").read_text())
    specialists = [f for f in formulas if f.role == "specialist"]
    figures = [
        ReportFigure(
            "Transfer matrix", plot_transfer_matrix(review.transfer, folder / "transfer.png")
        ),
        ReportFigure(
            "Accuracy vs parameters",
            plot_accuracy_vs_params(builtin_runs, folder / "accuracy_vs_params.png"),
        ),
        ReportFigure(
            "Discovered activations",
            plot_activations_combined(
                [(f.dataset, f.formula, parse_formula(f.formula).to_numpy()) for f in specialists],
                folder / "activation_combined.png",
            ),
            "each dataset's formula beside ReLU and Swish",
        ),
    ]
    rows = [{"dataset": k, **v} for k, v in provenance["data"].items()]
    rows.append({"dataset": "HOSTILE", "source": HOSTILE_PATH, "rows_read": 3})
    tables = review_tables(review)
    tables.append(
        ReportTable(
            "Hostile labels",
            [{"model": hostile.model, "formula": hostile.formula, "path": HOSTILE_PATH}],
            "user text & markup: " + HOSTILE_FORMULA,
            "hostile",
        )
    )
    return ReportData(
        title="symact builtin <b>run</b> & co",
        settings={**provenance["protocol"], "statistics": review.settings.as_dict()},
        provenance=rows,
        versions=provenance["environment"],
        tables=tables,
        figures=figures,
        notes=[review.claims.more_seeds],
        generated="2026-12-01 17:06 UTC",
    )
