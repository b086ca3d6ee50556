"""Compilers: a ``Formula`` to numpy, torch, sympy and LaTeX, and back from sympy.

Every compiler reads the operator table. The numpy and torch compilers turn the tree into one
Python closure, once: each node becomes a small lambda calling the table's function on its
children's lambdas, so a call walks no tree and looks nothing up. Subtrees without variables
are folded into python floats at compile time (floats keep the input's dtype: a float32 tensor
stays float32, bfloat16 stays bfloat16). The gplearn ("features") numpy mode does not fold, and
evaluates exactly as ``gplearn._program._Program.execute`` does, so results match bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch is imported by the torch compilers only: numpy, sympy and
    from torch import Tensor  # LaTeX (and so gplearn discovery) run without it

from symact.formula.operators import OPERATORS, Operator
from symact.formula.parser import MAX_POWER, integer_power
from symact.formula.tree import Formula, FormulaError

#: Formulas larger than this are not handed to sympy (its simplify can take minutes).
SIMPLIFY_MAX_SIZE = 120

Leaf = Callable[[Formula], Any]


def _identity(e: Any) -> Any:
    return e


# ---------------------------------------------------------------------------- closure builder


def _fold(row: Operator, values: Sequence[float]) -> float:
    """Evaluate an operator on constants in float64, with numpy's (gplearn's) semantics."""
    with np.errstate(all="ignore"):
        return float(row.numpy(*(np.float64(v) for v in values)))


def _build(node: Formula, leaf: Leaf, pick: Callable[[Operator], Callable[..., Any]]) -> Any:
    """A closure ``e -> value`` for ``node``; a python float when ``node`` is constant.

    ``leaf`` compiles a constant or variable; returning ``_identity`` for the input variable
    lets its parent call the table function directly (``cos`` instead of ``e -> cos(e)``).
    """
    if not node.args:
        return leaf(node)
    row = OPERATORS[node.op]
    f = pick(row)
    kids = [_build(a, leaf, pick) for a in node.args]
    if all(isinstance(k, float) for k in kids):
        return _fold(row, kids)
    if row.arity == 1:
        (a,) = kids
        if a is _identity:
            return f
        return lambda e: f(a(e))
    a, b = kids
    if isinstance(a, float):
        if b is _identity:
            return lambda e: f(a, e)
        return lambda e: f(a, b(e))
    if isinstance(b, float):
        if a is _identity:
            return lambda e: f(e, b)
        return lambda e: f(a(e), b)
    if a is _identity and b is _identity:
        return lambda e: f(e, e)
    if a is _identity:
        return lambda e: f(e, b(e))
    if b is _identity:
        return lambda e: f(a(e), e)
    return lambda e: f(a(e), b(e))


def _feature_mode(formula: Formula, features: bool | None) -> bool:
    """Decide between gplearn feature columns (``X<n>``) and element-wise ``x``."""
    names = formula.variables
    has_x = "x" in names
    has_features = any(n != "x" for n in names)
    if has_x and has_features:
        raise FormulaError(
            f"formula {formula} mixes 'x' with features {names[1:]}; call .univariate() first"
        )
    if features is None:
        return has_features
    if features and has_x:
        raise FormulaError(f"formula {formula} is over 'x'; it has no feature columns")
    if not features and has_features:
        raise FormulaError(
            f"formula {formula} uses features {names}; call .univariate() to get a function of x"
        )
    return features


def _n_features(formula: Formula) -> int:
    return 1 + max((int(n[1:]) for n in formula.variables if n != "x"), default=-1)


# ---------------------------------------------------------------------------- numpy


def compile_numpy(
    formula: Formula, *, features: bool | None = None
) -> Callable[[np.ndarray], np.ndarray]:
    """See ``Formula.to_numpy``."""
    if features is None and not formula.variables:
        return _compile_numpy_constant(formula)
    if _feature_mode(formula, features):
        return _compile_numpy_features(formula)
    return _compile_numpy_elementwise(formula)


def _compile_numpy_constant(formula: Formula) -> Callable[[np.ndarray], np.ndarray]:
    """A formula without variables: gplearn's one value per row on 2-D, else element-wise."""
    on_features = _compile_numpy_features(formula)
    elementwise = _compile_numpy_elementwise(formula)

    def constant(x: Any) -> np.ndarray:
        x = np.asarray(x)
        return on_features(x) if x.ndim == 2 else elementwise(x)

    return constant


def _compile_numpy_elementwise(formula: Formula) -> Callable[[np.ndarray], np.ndarray]:
    root = _build(formula, _numpy_scalar_leaf, lambda row: row.numpy)

    def elementwise(x: Any) -> np.ndarray:
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float64)
        if isinstance(root, float):
            return np.full(x.shape, root, dtype=x.dtype)
        return np.asarray(root(x))

    return elementwise


def _numpy_scalar_leaf(node: Formula) -> Any:
    return node.value if node.is_const else _identity


def _compile_numpy_features(formula: Formula) -> Callable[[np.ndarray], np.ndarray]:
    # No folding and constants as float64 columns: the very operations gplearn performs.
    def leaf(node: Formula) -> Callable[[np.ndarray], np.ndarray]:
        if node.is_const:
            c = node.value
            return lambda X: np.repeat(c, X.shape[0])
        i = int(node.value[1:])  # type: ignore[index]
        return lambda X: X[:, i]

    root = _build(formula, leaf, lambda row: row.numpy)
    needed = _n_features(formula)

    def on_features(X: Any) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] < needed:
            raise ValueError(
                f"formula {formula} needs a 2-D array with at least {needed} feature "
                f"column(s), got shape {X.shape}"
            )
        return root(X)

    return on_features


# ---------------------------------------------------------------------------- torch


def compile_torch(formula: Formula, *, features: bool | None = None) -> Callable[[Tensor], Tensor]:
    """See ``Formula.to_torch``: one closure, constants folded into python floats."""
    import torch

    if _feature_mode(formula, features):

        def leaf(node: Formula) -> Any:
            if node.is_const:
                return node.value
            i = int(node.value[1:])  # type: ignore[index]
            return lambda X: X[..., i]

        root = _build(formula, leaf, lambda row: row.torch)
        if isinstance(root, float):
            c = root
            return lambda X: torch.full(X.shape[:-1], c, dtype=X.dtype, device=X.device)
        return root
    root = _build(formula, _numpy_scalar_leaf, lambda row: row.torch)
    if isinstance(root, float):
        c = root
        return lambda x: torch.full_like(x, c)
    return root


def compile_torch_learnable(
    formula: Formula,
) -> Callable[[tuple[Tensor, Sequence[Tensor]]], Tensor]:
    """A closure ``(x, constants) -> value`` where constant k is ``constants[k]``.

    Constants are numbered in prefix order, the order of ``Formula.constants``; they are
    tensors (``nn.Parameter``), so nothing is folded and gradients reach every constant.
    """
    import torch

    _feature_mode(formula, False)
    counter = iter(range(formula.size))

    def leaf(node: Formula) -> Callable[[Any], Tensor]:
        if node.is_const:
            k = next(counter)
            return lambda e: e[1][k]
        return lambda e: e[0]

    root = _build(formula, leaf, lambda row: row.torch)
    if "x" not in formula.variables:  # constant formula: broadcast to the input's shape
        const_root = root
        return lambda e: torch.zeros_like(e[0]) + const_root(e).to(e[0].dtype)
    return root


# ---------------------------------------------------------------------------- sympy


def _sympy() -> Any:
    import sympy

    return sympy


def to_sympy(formula: Formula, *, real: bool = False) -> Any:
    """See ``Formula.to_sympy``. Integer-valued constants become sympy Integers.

    ``real=True`` declares the symbols real (``Symbol("x", real=True)``), which lets sympy's
    simplify use identities that hold only for reals; ``simplify`` asks for it.
    """
    sp = _sympy()
    symbols: dict[str, Any] = {}

    def convert(node: Formula) -> Any:
        if node.is_const:
            v = node.value
            return sp.Integer(int(v)) if float(v).is_integer() and abs(v) < 2**53 else sp.Float(v)
        if node.is_var:
            if node.value not in symbols:
                symbols[node.value] = (
                    sp.Symbol(node.value, real=True) if real else sp.Symbol(node.value)
                )
            return symbols[node.value]
        return OPERATORS[node.op].sympy(sp, *(convert(a) for a in node.args))

    return convert(formula)


def _simple_sympy_functions(sp: Any) -> dict[Any, str]:
    """sympy function class -> operator name, read off the table (``sin(x)`` -> ``sin``)."""
    t = sp.Symbol("t", real=True)
    mapping = {}
    for row in OPERATORS.values():
        if row.arity != 1:
            continue
        expr = row.sympy(sp, t)
        if isinstance(expr, sp.Function) and expr.args == (t,):
            mapping.setdefault(expr.func, row.name)
    return mapping


def from_sympy(expr: Any) -> Formula:
    """A ``Formula`` from a sympy expression, for the operators sympy produces.

    Raises ``FormulaError`` for anything it cannot express (then ``simplify`` keeps the
    original). ``log(|a|)`` and ``sqrt(|a|)`` map back to the protected ``log``/``sqrt``.
    """
    sp = _sympy()
    simple = _simple_sympy_functions(sp)

    def chain(op: str, items: Sequence[Formula]) -> Formula:
        result = items[0]
        for item in items[1:]:
            result = Formula(op, (result, item))
        return result

    def number(value: Any) -> Formula:
        # sympy's 15-digit Float arithmetic leaves noise (0.92617621248862): 12 digits is
        # plenty, and the numeric check in ``simplify`` still has the last word.
        try:
            return Formula.const(float(f"{float(value):.12g}"))
        except TypeError as exc:
            raise FormulaError(f"sympy value {value} is not a real number") from exc

    def convert(e: Any) -> Formula:
        if e.is_Symbol:
            return Formula.var(e.name)
        if e.is_number:  # any expression without symbols: sqrt(2), pi/4
            return number(e)
        if isinstance(e, sp.Add):
            terms = sorted(e.args, key=lambda t: bool(t.is_Number))  # constant term last
            result = convert(terms[0])
            for term in terms[1:]:
                coeff, _ = term.as_coeff_Mul()
                if coeff.is_negative:
                    result = Formula("sub", (result, convert(-term)))
                else:
                    result = Formula("add", (result, convert(term)))
            return result
        if isinstance(e, sp.Mul):
            return mul(e)
        if isinstance(e, sp.Pow):
            return power(e.base, e.exp)
        if isinstance(e, sp.log):
            (a,) = e.args
            return Formula("log", (convert(a.args[0] if isinstance(a, sp.Abs) else a),))
        if isinstance(e, (sp.Max, sp.Min)):
            op = "max" if isinstance(e, sp.Max) else "min"
            return chain(op, [convert(a) for a in e.args])
        if e.func in simple and len(e.args) == 1:
            return Formula(simple[e.func], (convert(e.args[0]),))
        raise FormulaError(f"cannot express sympy {type(e).__name__} as a formula")

    def mul(e: Any) -> Formula:
        coeff, rest = e.as_coeff_Mul()
        numerator, denominator = [], []
        for factor in sp.Mul.make_args(rest):
            if factor.is_Pow and factor.exp.is_Integer and factor.exp.is_negative:
                denominator.append(power(factor.base, -factor.exp))
            else:
                numerator.append(convert(factor))
        negate = coeff == -1
        if coeff != 1 and not negate:
            numerator.insert(0, number(coeff))
        result = chain("mul", numerator) if numerator else Formula.const(1.0)
        if denominator:
            result = Formula("div", (result, chain("mul", denominator)))
        return Formula("neg", (result,)) if negate else result

    def power(base: Any, exp: Any) -> Formula:
        if base == sp.E:
            return Formula("exp", (convert(exp),))
        if exp.is_Integer and 0 < exp <= MAX_POWER:
            return integer_power(convert(base), int(exp))
        if exp.is_Integer and -MAX_POWER <= exp < 0:
            return Formula("inv", (integer_power(convert(base), int(-exp)),))
        if exp in (sp.Rational(1, 2), sp.Rational(-1, 2)):
            inner = base.args[0] if isinstance(base, sp.Abs) else base
            root = Formula("sqrt", (convert(inner),))
            return root if exp > 0 else Formula("inv", (root,))
        raise FormulaError(f"cannot express the power {base}**{exp} as a formula")

    return convert(expr)


def _agree(a: Formula, b: Formula, seed: int) -> bool:
    """Do ``a`` and ``b`` evaluate equal (protected semantics) on random inputs?"""
    rng = np.random.default_rng(seed)
    n = 512
    # ordinary values, plus magnitudes from 1e-6 to 1e4 so protected regions are visited
    magnitudes = 10.0 ** rng.uniform(-6.0, 4.0, n) * rng.choice([-1.0, 1.0], n)
    samples = np.concatenate(
        [rng.normal(0.0, 1.0, n), rng.uniform(-5.0, 5.0, n), rng.normal(0.0, 20.0, n), magnitudes]
    )
    features = not a.is_univariate
    if features:
        columns = max(_n_features(a), 1)
        x = rng.permuted(np.tile(samples, (columns, 1)), axis=1).T
    else:
        x = samples
    with np.errstate(all="ignore"):
        ya = a.to_numpy(features=features)(x)
        yb = b.to_numpy(features=features)(x)
    return bool(np.allclose(ya, yb, rtol=1e-7, atol=1e-9, equal_nan=True))


def simplify(formula: Formula, *, seed: int = 0) -> Formula:
    """See ``Formula.simplify``."""
    if formula.size <= 2 or formula.size > SIMPLIFY_MAX_SIZE:
        return formula
    sp = _sympy()
    try:
        # real symbols: simplify may then use |x|**2 = x**2 and the like (features are real)
        candidate = from_sympy(sp.simplify(to_sympy(formula, real=True)))
    except (FormulaError, TypeError, ValueError, RecursionError, AttributeError):
        return formula  # sympy produced something the table cannot express: keep the original
    if candidate.size >= formula.size:
        return formula
    if not set(candidate.variables) <= set(formula.variables):
        return formula
    return candidate if _agree(formula, candidate, seed) else formula


# ---------------------------------------------------------------------------- LaTeX


def _latex_number(value: float) -> str:
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        return rf"{mantissa} \cdot 10^{{{int(exponent)}}}"
    return text


def to_latex(formula: Formula) -> str:
    """See ``Formula.to_latex``."""

    def convert(node: Formula) -> tuple[str, int]:
        if node.is_const:
            return _latex_number(node.value), (15 if node.value < 0 else 90)  # type: ignore[operator]
        if node.is_var:
            name = node.value
            return ("x" if name == "x" else f"X_{{{name[1:]}}}"), 90  # type: ignore[index]
        row = OPERATORS[node.op]
        text = row.latex
        for i, arg in enumerate(node.args):
            arg_text, arg_prec = convert(arg)
            tight = row.name == "neg" or (row.name == "sub" and i == 1)
            if arg_prec < row.latex_precedence or (tight and arg_prec == row.latex_precedence):
                arg_text = rf"\left({arg_text}\right)"
            text = text.replace(f"${i}", arg_text)
        return text, row.latex_precedence

    return convert(formula)[0]


# ---------------------------------------------------------------------------- degeneracy


def is_degenerate(formula: Formula, *, low: float = -5.0, high: float = 5.0) -> bool:
    """See ``Formula.is_degenerate``: least-squares line fits the grid to 1e-6 (relative)."""
    grid = np.linspace(low, high, 1001)
    with np.errstate(all="ignore"):
        y = formula.univariate().to_numpy(features=False)(grid)
    finite = np.isfinite(y)
    if finite.sum() < 2:
        return True
    g, y = grid[finite], y[finite]
    design = np.stack([g, np.ones_like(g)], axis=1)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = np.max(np.abs(design @ coef - y))
    return bool(residual <= 1e-6 * (1.0 + np.max(np.abs(y))))


__all__ = [
    "compile_numpy",
    "compile_torch",
    "compile_torch_learnable",
    "from_sympy",
    "is_degenerate",
    "simplify",
    "to_latex",
    "to_sympy",
]
