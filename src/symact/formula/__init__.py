"""symact.formula: formulas as data.

Parse gplearn's prefix notation or infix into an immutable ``Formula``; check, simplify and
print it; compile it to numpy (gplearn-exact), torch (differentiable), sympy and LaTeX; and
use it as a drop-in PyTorch activation. This stage imports nothing else of symact.
"""

from symact.formula.activation import SymbolicActivation, make_activation
from symact.formula.operators import OPERATORS, Operator
from symact.formula.parser import parse_formula
from symact.formula.tree import Formula, FormulaError

__all__ = [
    "OPERATORS",
    "Formula",
    "FormulaError",
    "Operator",
    "SymbolicActivation",
    "make_activation",
    "parse_formula",
]
