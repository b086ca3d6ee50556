"""The committed run records of the report tests, read by name (a module of its own name:
``from conftest import ...`` would import whichever folder's conftest pytest loaded first,
as pytest 7 does)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from symact.report import (
    FormulaConfiguration,
    RunRecord,
    as_formula_configurations,
    as_records,
)

FIXTURES = Path(__file__).parent / "fixtures"


def load_runs(name: str) -> list[RunRecord]:
    frame = pd.read_csv(FIXTURES / f"{name}_runs.csv")
    return as_records(frame.to_dict("records"))


def load_formulas(name: str) -> list[FormulaConfiguration]:
    frame = pd.read_csv(FIXTURES / f"{name}_formulas.csv")
    return as_formula_configurations(frame.to_dict("records"))
