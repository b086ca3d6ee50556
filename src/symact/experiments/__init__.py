"""Experiments: run specs, suites, the grid runner and the SQLite results store."""

from symact.experiments.runner import DataCache, GridSummary, discover, run_grid
from symact.experiments.specs import (
    ARCHITECTURES,
    DataSpec,
    DiscoverySpec,
    GridEntry,
    RunSpec,
)
from symact.experiments.store import ResultsStore
from symact.experiments.suites import Suite, SuiteOutcome, grid, make_suite, run_suite

__all__ = [
    "ARCHITECTURES",
    "DataCache",
    "DataSpec",
    "DiscoverySpec",
    "GridEntry",
    "GridSummary",
    "ResultsStore",
    "RunSpec",
    "Suite",
    "SuiteOutcome",
    "discover",
    "grid",
    "make_suite",
    "run_grid",
    "run_suite",
]
