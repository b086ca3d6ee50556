"""Real run records for the report tests (see fixtures/README.md for how they were made)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from symact.report import FormulaConfiguration, RunRecord, as_formula_configurations, as_records

FIXTURES = Path(__file__).parent / "fixtures"


def load_runs(name: str) -> list[RunRecord]:
    frame = pd.read_csv(FIXTURES / f"{name}_runs.csv")
    return as_records(frame.to_dict("records"))


@pytest.fixture(scope="session")
def builtin_runs() -> list[RunRecord]:
    """60 runs: BREAST_CANCER and DIGITS, 6 configurations x 5 seeds."""
    return load_runs("builtin_5seeds")


@pytest.fixture(scope="session")
def paper_runs() -> list[RunRecord]:
    """270 runs: the paper's protocol, 10 seeds, 3 discovery seeds per dataset."""
    return load_runs("paper_10seeds")


def load_formulas(name: str) -> list[FormulaConfiguration]:
    frame = pd.read_csv(FIXTURES / f"{name}_formulas.csv")
    return as_formula_configurations(frame.to_dict("records"))


@pytest.fixture(scope="session")
def builtin_formulas() -> list[FormulaConfiguration]:
    return load_formulas("builtin_5seeds")


@pytest.fixture(scope="session")
def paper_formulas() -> list[FormulaConfiguration]:
    return load_formulas("paper_10seeds")
