"""Compile a univariate formula tree to a C function that returns f(y) and writes f'(y).

The stacked trainer's fused kernels (``symact.training.kernels``) need an activation and its
derivative in one pass, inside a vectorized loop. This module turns a :class:`Formula` into
straight-line C (one statement per distinct subtree, so ``cos(x)`` used twice is computed
once) with forward-mode differentiation: every node yields a value and a derivative.

Formulas are data: only the operator table's operators, ``x`` and finite float constants
reach the generated code, and every piece of it comes from the per-operator templates below.
Values follow the torch compiler's semantics (``operators.py``: gplearn's protection, exp
clamped at 80) and derivatives follow what torch's autograd returns for those torch
functions, including its conventions where a derivative is a choice: ``abs'(0) = 0``,
``relu'(0) = 0``, ties of ``max``/``min`` split the gradient in half, ``clamp`` passes the
gradient at its bound, and a protected branch has derivative 0.
"""

from __future__ import annotations

import math

from symact.formula.compile import _fold
from symact.formula.operators import EXP_MAX, OPERATORS, PROTECTION_THRESHOLD
from symact.formula.tree import Formula, FormulaError

#: libm functions the generated code may call (kernels.py declares their vector variants)
LIBM_FUNCTIONS = ("sinf", "cosf", "tanf", "tanhf", "expf", "logf", "erff", "log1pf")

_T = f"{PROTECTION_THRESHOLD!r}f"
_EXP_MAX = f"{EXP_MAX!r}f"
_SQRT_PI_2 = "1.1283791670955126f"  # 2 / sqrt(pi), erf's derivative at 0


def c_float(value: float) -> str:
    """A float constant as C source: the double literal cast to float, as torch casts it."""
    value = float(value)
    if math.isnan(value):
        return '__builtin_nanf("")'
    if math.isinf(value):
        return "__builtin_inff()" if value > 0 else "(-__builtin_inff())"
    return f"((float){value!r})"


# Each template takes the argument expressions (value, derivative) and returns C statements
# that define v{n} and d{n}. A derivative of None means "identically zero".
Arg = tuple[str, str | None]


def _sum(*terms: str | None) -> str | None:
    kept = [t for t in terms if t is not None]
    return " + ".join(f"({t})" for t in kept) if kept else None


def _scaled(d: str | None, factor: str) -> str | None:
    return None if d is None else f"({d}) * ({factor})"


def _emit(op: str, args: list[Arg], n: int, const_args: list[float | None]) -> list[str]:
    """C statements defining ``v{n}`` and ``d{n}`` for ``op`` applied to ``args``."""
    v, d = f"v{n}", f"d{n}"
    lines: list[str] = []

    def define(value: str, deriv: str | None) -> list[str]:
        return [*lines, f"float {v} = {value};", f"float {d} = {deriv or '0.0f'};"]

    if op in ("add", "sub"):
        (a, da), (b, db) = args
        sign = "+" if op == "add" else "-"
        deriv = _sum(da, None if db is None else (db if op == "add" else f"-({db})"))
        return define(f"{a} {sign} {b}", deriv)
    if op == "mul":
        (a, da), (b, db) = args
        return define(f"{a} * {b}", _sum(_scaled(da, b), _scaled(db, a)))
    if op == "div":
        (a, da), (b, db) = args
        cb = const_args[1]
        if cb is not None:  # constant denominator, decided here as the torch compiler does
            if abs(cb) > PROTECTION_THRESHOLD:
                return define(f"{a} / {b}", None if da is None else f"({da}) / {b}")
            return define("1.0f", None)
        lines += [
            f"int s{n} = __builtin_fabsf({b}) > {_T};",
            f"float b{n} = s{n} ? {b} : 1.0f;",
        ]
        deriv = _sum(
            None if da is None else f"({da}) / b{n}",
            # torch's div backward for the denominator: -grad * ((a / b) / b)
            None if db is None else f"-({db}) * ({v} / b{n})",
        )
        return define(f"s{n} ? {a} / b{n} : 1.0f", f"s{n} ? {deriv} : 0.0f" if deriv else None)
    if op in ("max", "min"):
        (a, da), (b, db) = args
        gt, lt = (">", "<") if op == "max" else ("<", ">")
        ca, cb = const_args
        if ca is not None or cb is not None:  # clamp(tensor, bound): torch.clamp's rules
            (t, dt), bound = ((b, db), a) if ca is not None else ((a, da), b)
            le = ">=" if op == "max" else "<="
            value = f"{t} {lt} {bound} ? {bound} : {t}"  # NaN stays NaN, as in clamp
            return define(value, None if dt is None else f"{t} {le} {bound} ? ({dt}) : 0.0f")
        value = f"{a} != {a} ? {a} : ({b} != {b} ? {b} : ({a} {gt} {b} ? {a} : {b}))"
        da_, db_ = da or "0.0f", db or "0.0f"
        deriv = f"{a} {gt} {b} ? ({da_}) : ({a} {lt} {b} ? ({db_}) : 0.5f * (({da_}) + ({db_})))"
        return define(value, deriv if (da or db) else None)

    ((a, da),) = args
    if op == "neg":
        return define(f"-{a}", None if da is None else f"-({da})")
    if op == "abs":
        sign = f"(float)(({a} > 0.0f) - ({a} < 0.0f))"
        return define(f"__builtin_fabsf({a})", _scaled(da, sign))
    if op == "sqrt":
        lines += [f"float m{n} = __builtin_fabsf({a});", f"int p{n} = m{n} > 0.0f;"]
        sign = f"(float)(({a} > 0.0f) - ({a} < 0.0f))"
        value = f"p{n} ? __builtin_sqrtf(p{n} ? m{n} : 1.0f) : 0.0f"
        deriv = None if da is None else f"p{n} ? ({da}) * {sign} * 0.5f / {v} : 0.0f"
        return define(value, deriv)
    if op == "log":
        lines += [f"float m{n} = __builtin_fabsf({a});", f"int s{n} = m{n} > {_T};"]
        value = f"s{n} ? logf(s{n} ? m{n} : 1.0f) : 0.0f"
        return define(value, None if da is None else f"s{n} ? ({da}) / {a} : 0.0f")
    if op == "inv":
        lines += [f"int s{n} = __builtin_fabsf({a}) > {_T};"]
        value = f"s{n} ? 1.0f / (s{n} ? {a} : 1.0f) : 0.0f"
        return define(value, None if da is None else f"-({da}) * {v} * {v}")
    if op == "sin":
        return define(f"sinf({a})", _scaled(da, f"cosf({a})"))
    if op == "cos":
        return define(f"cosf({a})", _scaled(da, f"-sinf({a})"))
    if op == "tan":
        return define(f"tanf({a})", _scaled(da, f"1.0f + {v} * {v}"))
    if op == "sig":
        return define(f"1.0f / (1.0f + expf(-{a}))", _scaled(da, f"{v} * (1.0f - {v})"))
    if op == "tanh":
        return define(f"tanhf({a})", _scaled(da, f"1.0f - {v} * {v}"))
    if op == "exp":
        value = f"expf({a} > {_EXP_MAX} ? {_EXP_MAX} : {a})"
        return define(value, None if da is None else f"{a} <= {_EXP_MAX} ? ({da}) * {v} : 0.0f")
    if op == "relu":
        deriv = None if da is None else f"{a} > 0.0f ? ({da}) : 0.0f"
        return define(f"{a} < 0.0f ? 0.0f : {a}", deriv)
    if op == "softplus":  # F.softplus with beta 1 and threshold 20
        value = f"{a} > 20.0f ? {a} : log1pf(expf({a}))"
        deriv = None if da is None else f"{a} > 20.0f ? ({da}) : ({da}) / (1.0f + expf(-{a}))"
        return define(value, deriv)
    if op == "erf":
        return define(f"erff({a})", _scaled(da, f"{_SQRT_PI_2} * expf(-{a} * {a})"))
    raise FormulaError(f"operator {op!r} has no C template; add one to symact.formula.ccode")


def to_c(formula: Formula) -> str:
    """The body of ``static inline float act(float y, float *d)`` computing the formula of x.

    The formula must be univariate (``x`` only); constants are folded as the torch compiler
    folds them, so the C function computes what ``compile_torch`` computes, up to rounding.
    """
    bad = [v for v in formula.variables if v != "x"]
    if bad:
        raise FormulaError(
            f"C code is generated for formulas of x only; this one uses {', '.join(bad)}: "
            "call .univariate() first"
        )
    lines: list[str] = []
    memo: dict[Formula, tuple[Arg, float | None]] = {}

    def visit(node: Formula) -> tuple[Arg, float | None]:
        if node in memo:
            return memo[node]
        if node.is_const:
            out: tuple[Arg, float | None] = ((c_float(node.value), None), float(node.value))
        elif node.is_var:
            out = (("y", "1.0f"), None)
        else:
            kids = [visit(a) for a in node.args]
            consts = [c for _, c in kids]
            if all(c is not None for c in consts):
                value = _fold(OPERATORS[node.op], consts)
                out = ((c_float(value), None), value)
            else:
                n = len(memo)
                lines.extend(_emit(node.op, [arg for arg, _ in kids], n, consts))
                deriv = f"d{n}" if _has_derivative(lines, n) else None
                out = ((f"v{n}", deriv), None)
        memo[node] = out
        return out

    (value, deriv), _ = visit(formula)
    body = [*lines, f"*d = {deriv or '0.0f'};", f"return {value};"]
    return "\n".join(f"    {line}" for line in body)


def _has_derivative(lines: list[str], n: int) -> bool:
    return f"float d{n} = 0.0f;" not in lines
