"""A small search on real data, shared by the search tests (imported by name: a module called
conftest would be whichever conftest pytest imported first under that name)."""

from __future__ import annotations

SMALL = [
    "--budget",
    "40",
    "--population",
    "16",
    "--tournament",
    "4",
    "--epochs",
    "2",
    "--final-seeds",
    "4",
    "--final-epochs",
    "3",
    "--rerank",
    "4",
    "--top",
    "2",
    "--population-size",
    "60",
    "--generations",
    "2",
    "--device",
    "cpu",
]
