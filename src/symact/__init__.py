"""symact: activation functions discovered as formulas, compiled to PyTorch, and benchmarked.

The package is a pipeline of stages, each a subpackage, data flowing one way:
``data`` -> ``formula`` -> ``discovery`` -> ``models`` -> ``training`` -> ``experiments``
-> ``report`` -> ``cli``. The names below are the public API a researcher reaches for first.

They are imported on first use (PEP 562): ``import symact.data`` or the discovery stage
then runs without importing torch, which lets ``symact benchmark`` start its gplearn child
before torch's ~1 s import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from symact._lazy import lazy_attributes

if TYPE_CHECKING:
    from symact.formula import (
        Formula,
        FormulaError,
        SymbolicActivation,
        make_activation,
        parse_formula,
    )

__version__ = "0.1.0"


__all__ = [
    "Formula",
    "FormulaError",
    "SymbolicActivation",
    "__version__",
    "make_activation",
    "parse_formula",
]


__getattr__ = lazy_attributes(
    __name__, dict.fromkeys(set(__all__) - {"__version__"}, "symact.formula")
)
