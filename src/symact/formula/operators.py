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

    ``c`` and ``c_grad`` are the operator for the fused CPU kernels, which interpret a
    formula element by element (``symact.formula.ccode``): ``c`` is a C expression of the
    arguments ``a`` (and ``b``) computing the torch column's value in float32, and ``c_grad``
    holds, per argument, the gradient passed to it from the gradient ``g`` of the value,
    over ``a``, ``b``, the value ``v`` and ``g`` (the derivative rule; forward mode feeds it
    an argument's tangent as ``g``). Each is written as torch's own backward formula for the
    torch column, in the same float32 operations, and follows its choices (``abs'(0) = 0``,
    a tie of ``max`` splits the gradient, a protected branch passes 0), so both training
    paths compute the same function. ``c_clamp`` is the (value, gradient to ``a``) pair used
    where ``b`` is a folded constant and the torch column calls ``torch.clamp``
    (``max``/``min``: the gradient passes at the bound).
    C helpers available: ``SYMACT_T`` (protection threshold), ``SYMACT_EXP_MAX``,
    ``SYMACT_SIGN(a)``, ``symact_pick(c, x, y)`` (a choice with both sides computed: a libm call
    inside ``?:`` would keep the loop scalar) and the libm functions of ``ccode.LIBM_FUNCTIONS``.
    """

    name: str
    arity: int
    numpy: Callable[..., Any]
    torch_impl: Callable[..., Any] | str
    sympy: Callable[..., Any]
    latex: str
    latex_precedence: int
    protection: str = ""
    c: str = ""
    c_grad: tuple[str, ...] = ()
    c_clamp: tuple[str, str] | None = None
    aliases: tuple[str, ...] = ()  # other spellings the parser accepts (``sigmoid``)

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


def _np_gelu(x1: np.ndarray) -> np.ndarray:
    # torch's exact GELU: x * 0.5 * (1 + erf(x / sqrt(2))), in the input's dtype
    half = np.asarray(0.5, dtype=np.result_type(x1, np.float32))
    return x1 * half * (1 + _np_erf(x1 * np.asarray(_SQRT1_2, dtype=half.dtype)))


def _np_silu(x1: np.ndarray) -> np.ndarray:
    return x1 * _np_sig(x1)


def _np_elu(x1: np.ndarray) -> np.ndarray:
    return np.where(x1 > 0, x1, np.expm1(np.minimum(x1, 0.0)))


def _np_selu(x1: np.ndarray) -> np.ndarray:
    negative = np.expm1(np.minimum(x1, 0.0)) * (SELU_ALPHA * SELU_SCALE)
    return np.where(x1 > 0, x1 * SELU_SCALE, negative)


def _np_mish(x1: np.ndarray) -> np.ndarray:
    return x1 * np.tanh(np.logaddexp(0.0, x1))


def _np_leaky_relu(x1: np.ndarray) -> np.ndarray:
    return np.where(x1 > 0, x1, x1 * LEAKY_SLOPE)


_SQRT1_2 = 0.7071067811865476

#: SELU's constants as torch writes them (``torch.nn.SELU``; Klambauer et al. 2017, eq. 14,
#: whose closed forms ``_sp_selu`` uses), and leaky ReLU's default negative slope.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
LEAKY_SLOPE = 0.01


def _c_float32(value: float) -> str:
    """``value`` as torch's float32 kernels hold it (the double rounded to float32), as an
    exact C float literal."""
    return f"{float(np.float32(value))!r}f"


# torch's CPU ELU kernel computes x * scale, or expm1(x) * (alpha * scale) with the product
# taken in float32; its backward g * (alpha * scale) * exp(x) for x <= 0 (so selu'(0) is
# alpha * scale, elu'(0) = 1)
_C_SELU_SCALE = _c_float32(SELU_SCALE)
_C_SELU_NEG = _c_float32(np.float32(SELU_ALPHA) * np.float32(SELU_SCALE))
_C_LEAKY = _c_float32(LEAKY_SLOPE)
# mish and its derivative, as torch's CPU kernel: tanh(log1p(exp(x))) and sigmoid(x)
_C_TSP = "tanhf(log1pf(expf(a)))"


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


def _sp_gelu(sp: Any, a: Any) -> Any:
    return a * (1 + sp.erf(a / sp.sqrt(2))) / 2


def _sp_elu(sp: Any, a: Any) -> Any:
    # Max/Min rather than Piecewise: exact, and from_sympy reads it back
    return sp.Max(a, 0) + sp.Min(sp.exp(a) - 1, 0)


def _sp_selu(sp: Any, a: Any) -> Any:
    # the closed forms of Klambauer et al. 2017, eq. 14 (torch's decimals agree to 31 digits)
    e, pi = sp.E, sp.pi
    c = sp.erfc(1 / sp.sqrt(2))
    alpha = -sp.sqrt(2 / pi) / (c * sp.sqrt(e) - 1)
    scale = (
        (1 - c * sp.sqrt(e))
        * sp.sqrt(2 * pi)
        / sp.sqrt(
            2 * sp.erfc(sp.sqrt(2)) * e**2 + pi * c**2 * e - 2 * (2 + pi) * c * sp.sqrt(e) + pi + 2
        )
    )
    return scale * (sp.Max(a, 0) + alpha * sp.Min(sp.exp(a) - 1, 0))


# ---------------------------------------------------------------------------- the table

_MAX_TIE = "g * 0.5f"  # torch.maximum / torch.minimum split the gradient of a tie in half

_ROWS = (
    # gplearn's function set, gplearn's semantics
    Operator(
        "add",
        2,
        np.add,
        operator.add,
        lambda sp, a, b: a + b,
        "$0 + $1",
        10,
        c="a + b",
        c_grad=("g", "g"),
    ),
    Operator(
        "sub",
        2,
        np.subtract,
        operator.sub,
        lambda sp, a, b: a - b,
        "$0 - $1",
        10,
        c="a - b",
        c_grad=("g", "-g"),
    ),
    Operator(
        "mul",
        2,
        np.multiply,
        operator.mul,
        lambda sp, a, b: a * b,
        r"$0 \cdot $1",
        20,
        c="a * b",
        c_grad=("g * b", "g * a"),
    ),
    Operator(
        "div",
        2,
        _np_div,
        _t_div,
        lambda sp, a, b: a / b,
        r"\frac{$0}{$1}",
        90,
        "1 where |denominator| <= 0.001 (gplearn)",
        # torch's div backward for the denominator: -grad * ((a / b) / b)
        c="__builtin_fabsf(b) > SYMACT_T ? a / b : 1.0f",
        c_grad=(
            "__builtin_fabsf(b) > SYMACT_T ? g / b : 0.0f",
            "__builtin_fabsf(b) > SYMACT_T ? -g * (v / b) : 0.0f",
        ),
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
        c="__builtin_fabsf(a) > 0.0f ? __builtin_sqrtf(__builtin_fabsf(a)) : 0.0f",
        c_grad=("__builtin_fabsf(a) > 0.0f ? g / (2.0f * v) * SYMACT_SIGN(a) : 0.0f",),
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
        # the argument kept positive on the branch that is thrown away, so that logf runs
        # unconditionally (see symact_pick) and stays vectorized
        c="symact_pick(__builtin_fabsf(a) > SYMACT_T, "
        "logf(__builtin_fabsf(a) > SYMACT_T ? __builtin_fabsf(a) : 1.0f), 0.0f)",
        c_grad=("symact_pick(__builtin_fabsf(a) > SYMACT_T, g / a, 0.0f)",),
    ),
    Operator(
        "abs",
        1,
        np.abs,
        "torch.abs",
        lambda sp, a: sp.Abs(a),
        r"\left|$0\right|",
        90,
        c="__builtin_fabsf(a)",
        c_grad=("g * SYMACT_SIGN(a)",),
    ),
    Operator(
        "neg",
        1,
        np.negative,
        operator.neg,
        lambda sp, a: -a,
        "-$0",
        15,
        c="-a",
        c_grad=("-g",),
    ),
    Operator(
        "inv",
        1,
        _np_inv,
        _t_inv,
        lambda sp, a: 1 / a,
        r"\frac{1}{$0}",
        90,
        "0 where |x| <= 0.001 (gplearn)",
        c="__builtin_fabsf(a) > SYMACT_T ? 1.0f / a : 0.0f",
        c_grad=("-g * (v * v)",),
    ),
    Operator(
        "max",
        2,
        np.maximum,
        _t_max,
        lambda sp, a, b: sp.Max(a, b),
        r"\max\left($0, $1\right)",
        90,
        c="a != a ? a : (b != b ? b : (a > b ? a : b))",
        c_grad=(
            f"a > b ? g : (a < b ? 0.0f : {_MAX_TIE})",
            f"a < b ? g : (a > b ? 0.0f : {_MAX_TIE})",
        ),
        c_clamp=("a < b ? b : a", "a >= b ? g : 0.0f"),
    ),
    Operator(
        "min",
        2,
        np.minimum,
        _t_min,
        lambda sp, a, b: sp.Min(a, b),
        r"\min\left($0, $1\right)",
        90,
        c="a != a ? a : (b != b ? b : (a < b ? a : b))",
        c_grad=(
            f"a < b ? g : (a > b ? 0.0f : {_MAX_TIE})",
            f"a > b ? g : (a < b ? 0.0f : {_MAX_TIE})",
        ),
        c_clamp=("a > b ? b : a", "a <= b ? g : 0.0f"),
    ),
    Operator(
        "sin",
        1,
        np.sin,
        "torch.sin",
        lambda sp, a: sp.sin(a),
        r"\sin\left($0\right)",
        90,
        c="sinf(a)",
        c_grad=("g * cosf(a)",),
    ),
    Operator(
        "cos",
        1,
        np.cos,
        "torch.cos",
        lambda sp, a: sp.cos(a),
        r"\cos\left($0\right)",
        90,
        c="cosf(a)",
        c_grad=("g * -sinf(a)",),
    ),
    Operator(
        "tan",
        1,
        _np_tan,
        "torch.tan",
        lambda sp, a: sp.tan(a),
        r"\tan\left($0\right)",
        90,
        c="tanf(a)",
        c_grad=("g * (1.0f + v * v)",),
    ),
    Operator(
        "sig",
        1,
        _np_sig,
        "torch.sigmoid",
        _sp_sig,
        r"\sigma\left($0\right)",
        90,
        c="1.0f / (1.0f + expf(-a))",
        c_grad=("g * (1.0f - v) * v",),
        aliases=("sigmoid",),
    ),
    # activation primitives
    Operator(
        "tanh",
        1,
        np.tanh,
        "torch.tanh",
        lambda sp, a: sp.tanh(a),
        r"\tanh\left($0\right)",
        90,
        c="tanhf(a)",
        c_grad=("g * (1.0f - v * v)",),
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
        c="expf(a > SYMACT_EXP_MAX ? SYMACT_EXP_MAX : a)",
        c_grad=("a <= SYMACT_EXP_MAX ? g * v : 0.0f",),
    ),
    Operator(
        "relu",
        1,
        _np_relu,
        "torch.relu",
        lambda sp, a: sp.Max(a, 0),
        r"\max\left($0, 0\right)",
        90,
        c="a < 0.0f ? 0.0f : a",
        c_grad=("a > 0.0f ? g : 0.0f",),
    ),
    Operator(
        "softplus",
        1,
        _np_softplus,
        "torch.nn.functional.softplus",
        lambda sp, a: sp.log(1 + sp.exp(a)),
        r"\log\left(1 + e^{$0}\right)",
        90,
        # F.softplus with beta 1 and threshold 20
        # both branches computed (symact_pick), the thrown-away one on a clamped argument
        c="symact_pick(a > 20.0f, a, log1pf(expf(a > 20.0f ? 20.0f : a)))",
        c_grad=(
            "symact_pick(a > 20.0f, g, g * expf(a > 20.0f ? 20.0f : a)"
            " / (expf(a > 20.0f ? 20.0f : a) + 1.0f))",
        ),
    ),
    Operator(
        "erf",
        1,
        _np_erf,
        "torch.erf",
        lambda sp, a: sp.erf(a),
        r"\operatorname{erf}\left($0\right)",
        90,
        c="erff(a)",
        c_grad=("g * 1.1283791670955126f * expf(-(a * a))",),  # 2 / sqrt(pi)
    ),
    Operator(
        "gelu",
        1,
        _np_gelu,
        "torch.nn.functional.gelu",
        _sp_gelu,
        r"\operatorname{GELU}\left($0\right)",
        90,
        c="a * 0.5f * (1.0f + erff(a * 0.7071067811865476f))",
        c_grad=(
            "g * (0.5f * (1.0f + erff(a * 0.7071067811865476f))"
            " + a * (0.3989422804014327f * expf(a * a * -0.5f)))",
        ),
    ),
    Operator(
        "silu",
        1,
        _np_silu,
        "torch.nn.functional.silu",
        lambda sp, a: a / (1 + sp.exp(-a)),
        r"\operatorname{SiLU}\left($0\right)",
        90,
        c="a / (1.0f + expf(-a))",
        c_grad=("g * (1.0f / (1.0f + expf(-a))) * (1.0f + a * (1.0f - 1.0f / (1.0f + expf(-a))))",),
        aliases=("swish",),
    ),
    # the baselines reviewers expect (torch's defaults: ELU alpha 1, leaky slope 0.01)
    Operator(
        "elu",
        1,
        _np_elu,
        "torch.nn.functional.elu",
        _sp_elu,
        r"\operatorname{ELU}\left($0\right)",
        90,
        c="symact_pick(a > 0.0f, a, expm1f(a > 0.0f ? 0.0f : a))",
        c_grad=("symact_pick(a > 0.0f, g, g * expf(a > 0.0f ? 0.0f : a))",),
    ),
    Operator(
        "selu",
        1,
        _np_selu,
        "torch.nn.functional.selu",
        _sp_selu,
        r"\operatorname{SELU}\left($0\right)",
        90,
        c=f"symact_pick(a > 0.0f, a * {_C_SELU_SCALE}, "
        f"expm1f(a > 0.0f ? 0.0f : a) * {_C_SELU_NEG})",
        c_grad=(
            f"symact_pick(a > 0.0f, g * {_C_SELU_SCALE}, "
            f"g * {_C_SELU_NEG} * expf(a > 0.0f ? 0.0f : a))",
        ),
    ),
    Operator(
        "mish",
        1,
        _np_mish,
        "torch.nn.functional.mish",
        lambda sp, a: a * sp.tanh(sp.log(1 + sp.exp(a))),
        r"\operatorname{Mish}\left($0\right)",
        90,
        c=f"a * {_C_TSP}",
        c_grad=(f"g * ({_C_TSP} + a * (1.0f / (1.0f + expf(-a))) * (1.0f - {_C_TSP} * {_C_TSP}))",),
    ),
    Operator(
        "leaky_relu",
        1,
        _np_leaky_relu,
        "torch.nn.functional.leaky_relu",
        lambda sp, a: sp.Max(a, a / 100),
        r"\operatorname{LeakyReLU}\left($0\right)",
        90,
        c=f"a > 0.0f ? a : a * {_C_LEAKY}",
        c_grad=(f"a > 0.0f ? g : g * {_C_LEAKY}",),
    ),
)

#: name -> row; the single source of truth for operators.
OPERATORS: dict[str, Operator] = {row.name: row for row in _ROWS}

#: every spelling the parser accepts -> the row's name (a formula always prints the name).
SPELLINGS: dict[str, str] = {
    spelling: row.name for row in _ROWS for spelling in (row.name, *row.aliases)
}

#: gplearn's own function set (``gplearn.functions._function_map`` plus ``sig``).
GPLEARN_FUNCTIONS = tuple(
    "add sub mul div sqrt log abs neg inv max min sin cos tan sig".split()  # noqa: SIM905
)
