"""symact: activation functions discovered as formulas, compiled to PyTorch, and benchmarked.

The package is a pipeline of stages, each a subpackage, data flowing one way:
``data`` -> ``formula`` -> ``discovery`` -> ``models`` -> ``training`` -> ``experiments``
-> ``report`` -> ``cli``. The names below are the public API a researcher reaches for first.

They are imported on first use (PEP 562): ``import symact.data`` or the discovery stage
then runs without importing torch, which lets ``symact benchmark`` start its gplearn child
before torch's ~1 s import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from symact.formula import (
        Formula,
        FormulaError,
        SymbolicActivation,
        make_activation,
        parse_formula,
    )

__version__ = "0.1.0"

_LAZY = {
    "Formula": "symact.formula",
    "FormulaError": "symact.formula",
    "SymbolicActivation": "symact.formula",
    "make_activation": "symact.formula",
    "parse_formula": "symact.formula",
}

__all__ = [
    "Formula",
    "FormulaError",
    "SymbolicActivation",
    "__version__",
    "make_activation",
    "parse_formula",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'symact' has no attribute {name!r}")
