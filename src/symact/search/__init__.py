"""Activation search scored inside the network (``symact search``).

``space`` (formula trees and how children are made), ``screen`` (degenerate candidates
rejected, equal ones merged by their values on N(0, 1) inputs), ``surrogate`` (an optional
pre-screen predicting a proposal's fitness from those values, so that the poor are not
trained), ``evolution`` (regularized evolution, each candidate trained and scored on
validation rows), ``rungs`` (successive halving over training length up to the verdict's,
the finalists chosen on selection rows the search never read), ``verdict`` (the best judged
on test with fresh seeds against the best baseline by validation), ``aggregate`` (a
candidate's fitness over several datasets), ``transfer`` (finalists judged across datasets,
held-out ones included), ``runner`` (the whole pipeline, through the experiments stage's
store and executors) and ``outputs``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from symact._lazy import lazy_attributes

if TYPE_CHECKING:
    from symact.search.evolution import Candidate, Search, SearchSettings
    from symact.search.runner import SearchOutcome, run_search
    from symact.search.space import SearchSpace

_LAZY = {
    "Candidate": "evolution",
    "Search": "evolution",
    "SearchOutcome": "runner",
    "SearchSettings": "evolution",
    "SearchSpace": "space",
    "run_search": "runner",
}

__all__ = ["Candidate", "Search", "SearchOutcome", "SearchSettings", "SearchSpace", "run_search"]

__getattr__ = lazy_attributes(
    __name__, {name: f"symact.search.{module}" for name, module in _LAZY.items()}
)
