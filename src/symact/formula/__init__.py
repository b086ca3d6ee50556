"""symact.formula: formulas as data.

Parse gplearn's prefix notation or infix into an immutable ``Formula``; check, simplify and
print it; compile it to numpy (gplearn-exact), torch (differentiable), sympy and LaTeX; and
use it as a drop-in PyTorch activation. This stage imports nothing else of symact.
The activation (the one part that needs torch) is imported on first use, so that parsing
and gplearn discovery run without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from symact._lazy import lazy_attributes
from symact.formula.operators import OPERATORS, Operator
from symact.formula.parser import parse_formula
from symact.formula.tree import Formula, FormulaError

if TYPE_CHECKING:
    from symact.formula.activation import SymbolicActivation, make_activation

__all__ = [
    "OPERATORS",
    "Formula",
    "FormulaError",
    "Operator",
    "SymbolicActivation",
    "make_activation",
    "parse_formula",
]


__getattr__ = lazy_attributes(
    __name__, dict.fromkeys(("SymbolicActivation", "make_activation"), "symact.formula.activation")
)
