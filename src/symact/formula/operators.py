"""The operator table: one declarative row per operator, read by every other formula module.

The parser takes names and arities from it, the numpy evaluator and the torch compiler take
their functions from it, and sympy conversion and LaTeX printing take their templates from it.
Adding an operator is adding one row to ``OPERATORS``.

gplearn's function set (``add sub mul div sqrt log abs neg inv max min sin cos tan sig``) is
reproduced with gplearn's exact protected semantics, so that a gplearn program evaluated here
returns bit for bit what ``gplearn._program._Program.execute`` returns. The torch versions
compute the same values, but route every protected branch through ``torch.where`` on a *safe*
argument, so that the branch that is not taken is finite too: otherwise ``where`` would pass a
NaN gradient from the discarded branch (``0 * inf = nan``).
"""

from __future__ import annotations

import importlib
import operator
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from torch import Tensor

#: gplearn's closure threshold: div, log and inv switch to a constant where |arg| <= this.
PROTECTION_THRESHOLD = 0.001

#: exp(x) is computed as exp(min(x, EXP_MAX)): e**80 ~ 5.5e34 stays finite in float32
#: and bfloat16 (max ~3.4e38), so a single exp can never overflow.
EXP_MAX = 80.0


@dataclass(frozen=True)
class Operator:
    """One row of the operator table.

    ``numpy`` and ``torch`` take one argument per arity; at most one argument of a binary
    ``torch`` function is a python float (a folded constant), never both. The torch column
    is given as ``torch_impl``, a function or the dotted name of a torch function, so that
    this module (and parsing, and gplearn discovery) runs without importing torch.
    ``sympy`` takes the sympy module first (so sympy is imported only when needed), then the
    arguments.
    ``latex`` is a template with ``$0``/``$1`` for the arguments; ``latex_precedence`` decides
    where parentheses are needed (higher binds tighter; 90 means the template is self-delimiting).
    ``protection`` says in words how the operator is closed over its whole domain.
    """

    name: str
    arity: int
    numpy: Callable[..., Any]
    torch_impl: Callable[..., Any] | str
    sympy: Callable[..., Any]
    latex: str
    latex_precedence: int
    protection: str = ""

    @property
    def torch(self) -> Callable[..., Any]:
        impl = self.torch_impl
        return _torch_function(impl) if isinstance(impl, str) else impl


@cache
def _torch_function(dotted: str) -> Callable[..., Any]:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


# ---------------------------------------------------------------------------- numpy (gplearn)


def _np_div(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(x2) > PROTECTION_THRESHOLD, np.divide(x1, x2), 1.0)


def _np_sqrt(x1: np.ndarray) -> np.ndarray:
    return np.sqrt(np.abs(x1))


def _np_log(x1: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(x1) > PROTECTION_THRESHOLD, np.log(np.abs(x1)), 0.0)


def _np_inv(x1: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(x1) > PROTECTION_THRESHOLD, 1.0 / x1, 0.0)


def _np_sig(x1: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", under="ignore"):
        return 1 / (1 + np.exp(-x1))


def _np_tan(x1: np.ndarray) -> np.ndarray:
    return np.tan(x1)


def _np_exp(x1: np.ndarray) -> np.ndarray:
    return np.exp(np.minimum(x1, EXP_MAX))


def _np_relu(x1: np.ndarray) -> np.ndarray:
    return np.maximum(x1, 0.0)


def _np_softplus(x1: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x1)


def _np_erf(x1: np.ndarray) -> np.ndarray:
    from scipy.special import erf  # scipy ships with scikit-learn; imported on first use

    return erf(x1)


# ---------------------------------------------------------------------------- torch


def _t_div(a: Tensor | float, b: Tensor | float) -> Tensor:
    import torch

    if isinstance(b, float):  # constant denominator (a is then a tensor)
        return a / b if abs(b) > PROTECTION_THRESHOLD else torch.ones_like(a)
    safe = b.abs() > PROTECTION_THRESHOLD
    return torch.where(safe, a / torch.where(safe, b, 1.0), 1.0)


def _t_sqrt(a: Tensor) -> Tensor:
    import torch

    # sqrt'(0) = inf, and inf * abs'(0) = inf * 0 = nan: route exact zeros to sqrt(1).
    m = a.abs()
    positive = m > 0
    return torch.where(positive, torch.sqrt(torch.where(positive, m, 1.0)), 0.0)


def _t_log(a: Tensor) -> Tensor:
    import torch

    m = a.abs()
    safe = m > PROTECTION_THRESHOLD
    return torch.where(safe, torch.log(torch.where(safe, m, 1.0)), 0.0)


def _t_inv(a: Tensor) -> Tensor:
    import torch

    safe = a.abs() > PROTECTION_THRESHOLD
    return torch.where(safe, torch.reciprocal(torch.where(safe, a, 1.0)), 0.0)


def _t_max(a: Tensor | float, b: Tensor | float) -> Tensor:
    import torch

    if isinstance(a, float):
        return torch.clamp(b, min=a)
    if isinstance(b, float):
        return torch.clamp(a, min=b)
    return torch.maximum(a, b)


def _t_min(a: Tensor | float, b: Tensor | float) -> Tensor:
    import torch

    if isinstance(a, float):
        return torch.clamp(b, max=a)
    if isinstance(b, float):
        return torch.clamp(a, max=b)
    return torch.minimum(a, b)


def _t_exp(a: Tensor) -> Tensor:
    import torch

    return torch.exp(torch.clamp(a, max=EXP_MAX))


# ---------------------------------------------------------------------------- sympy


def _sp_sig(sp: Any, a: Any) -> Any:
    return 1 / (1 + sp.exp(-a))


# ---------------------------------------------------------------------------- the table

_ROWS = (
    # gplearn's function set, gplearn's semantics
    Operator("add", 2, np.add, operator.add, lambda sp, a, b: a + b, "$0 + $1", 10),
    Operator("sub", 2, np.subtract, operator.sub, lambda sp, a, b: a - b, "$0 - $1", 10),
    Operator("mul", 2, np.multiply, operator.mul, lambda sp, a, b: a * b, r"$0 \cdot $1", 20),
    Operator(
        "div",
        2,
        _np_div,
        _t_div,
        lambda sp, a, b: a / b,
        r"\frac{$0}{$1}",
        90,
        "1 where |denominator| <= 0.001 (gplearn)",
    ),
    Operator(
        "sqrt",
        1,
        _np_sqrt,
        _t_sqrt,
        lambda sp, a: sp.sqrt(sp.Abs(a)),
        r"\sqrt{\left|$0\right|}",
        90,
        "square root of |x| (gplearn)",
    ),
    Operator(
        "log",
        1,
        _np_log,
        _t_log,
        lambda sp, a: sp.log(sp.Abs(a)),
        r"\log\left|$0\right|",
        90,
        "log of |x|, 0 where |x| <= 0.001 (gplearn)",
    ),
    Operator("abs", 1, np.abs, "torch.abs", lambda sp, a: sp.Abs(a), r"\left|$0\right|", 90),
    Operator("neg", 1, np.negative, operator.neg, lambda sp, a: -a, "-$0", 15),
    Operator(
        "inv",
        1,
        _np_inv,
        _t_inv,
        lambda sp, a: 1 / a,
        r"\frac{1}{$0}",
        90,
        "0 where |x| <= 0.001 (gplearn)",
    ),
    Operator(
        "max", 2, np.maximum, _t_max, lambda sp, a, b: sp.Max(a, b), r"\max\left($0, $1\right)", 90
    ),
    Operator(
        "min", 2, np.minimum, _t_min, lambda sp, a, b: sp.Min(a, b), r"\min\left($0, $1\right)", 90
    ),
    Operator("sin", 1, np.sin, "torch.sin", lambda sp, a: sp.sin(a), r"\sin\left($0\right)", 90),
    Operator("cos", 1, np.cos, "torch.cos", lambda sp, a: sp.cos(a), r"\cos\left($0\right)", 90),
    Operator("tan", 1, _np_tan, "torch.tan", lambda sp, a: sp.tan(a), r"\tan\left($0\right)", 90),
    Operator("sig", 1, _np_sig, "torch.sigmoid", _sp_sig, r"\sigma\left($0\right)", 90),
    # activation primitives
    Operator(
        "tanh", 1, np.tanh, "torch.tanh", lambda sp, a: sp.tanh(a), r"\tanh\left($0\right)", 90
    ),
    Operator(
        "exp",
        1,
        _np_exp,
        _t_exp,
        lambda sp, a: sp.exp(a),
        r"e^{$0}",
        90,
        "exp(min(x, 80)): finite in float32",
    ),
    Operator(
        "relu",
        1,
        _np_relu,
        "torch.relu",
        lambda sp, a: sp.Max(a, 0),
        r"\max\left($0, 0\right)",
        90,
    ),
    Operator(
        "softplus",
        1,
        _np_softplus,
        "torch.nn.functional.softplus",
        lambda sp, a: sp.log(1 + sp.exp(a)),
        r"\log\left(1 + e^{$0}\right)",
        90,
    ),
    Operator(
        "erf",
        1,
        _np_erf,
        "torch.erf",
        lambda sp, a: sp.erf(a),
        r"\operatorname{erf}\left($0\right)",
        90,
    ),
)

#: name -> row; the single source of truth for operators.
OPERATORS: dict[str, Operator] = {row.name: row for row in _ROWS}

#: gplearn's own function set (``gplearn.functions._function_map`` plus ``sig``).
GPLEARN_FUNCTIONS = tuple(
    "add sub mul div sqrt log abs neg inv max min sin cos tan sig".split()  # noqa: SIM905
)
