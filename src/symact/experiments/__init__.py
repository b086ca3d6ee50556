"""Experiments: run specs, suites, the grid runner and the SQLite results store.

Names are imported on first use (PEP 562), so that the parts the benchmark's discovery child
needs (specs, the store, suites' job list, the background process) load without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from symact._lazy import lazy_attributes

if TYPE_CHECKING:
    from symact.experiments.datacache import DataCache
    from symact.experiments.executors import Executor, LocalExecutor, StackJob
    from symact.experiments.runner import GridSummary, discover, plan_jobs, run_grid
    from symact.experiments.specs import (
        DataSpec,
        DiscoverySpec,
        GridEntry,
        RunSpec,
        SplitSpec,
    )
    from symact.experiments.store import ResultsStore
    from symact.experiments.suites import Suite, SuiteOutcome, grid, make_suite, run_suite

_LAZY = {
    "DataCache": "datacache",
    "Executor": "executors",
    "LocalExecutor": "executors",
    "StackJob": "executors",
    "SplitSpec": "specs",
    "plan_jobs": "runner",
    "DataSpec": "specs",
    "DiscoverySpec": "specs",
    "GridEntry": "specs",
    "GridSummary": "runner",
    "ResultsStore": "store",
    "RunSpec": "specs",
    "Suite": "suites",
    "SuiteOutcome": "suites",
    "discover": "runner",
    "grid": "suites",
    "make_suite": "suites",
    "run_grid": "runner",
    "run_suite": "suites",
}

__all__ = [
    "DataCache",
    "DataSpec",
    "DiscoverySpec",
    "Executor",
    "GridEntry",
    "GridSummary",
    "LocalExecutor",
    "ResultsStore",
    "RunSpec",
    "SplitSpec",
    "StackJob",
    "Suite",
    "SuiteOutcome",
    "discover",
    "grid",
    "make_suite",
    "plan_jobs",
    "run_grid",
    "run_suite",
]


__getattr__ = lazy_attributes(
    __name__, {name: f"symact.experiments.{module}" for name, module in _LAZY.items()}
)
