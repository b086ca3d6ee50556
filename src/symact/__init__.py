"""symact: activation functions discovered as formulas, compiled to PyTorch, and benchmarked.

The package is a pipeline of stages, each a subpackage, data flowing one way:
``data`` -> ``formula`` -> ``discovery`` -> ``models`` -> ``training`` -> ``experiments``
-> ``report`` -> ``cli``. The names below are the public API a researcher reaches for first.
"""

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
