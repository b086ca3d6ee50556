"""Compiler tests: numpy/torch agreement, protected gradients, dtypes, sympy, LaTeX, simplify."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
import torch

from symact.formula import OPERATORS, Formula, FormulaError, parse_formula
from symact.formula.compile import from_sympy

x = Formula.var("x")
UNARY = sorted(n for n, r in OPERATORS.items() if r.arity == 1)
BINARY = sorted(n for n, r in OPERATORS.items() if r.arity == 2)
# Points at and around every protected region, and beyond exp's clamp.
HARD_POINTS = [0.0, 1e-9, -1e-9, 1e-3, -1e-3, 1.0005e-3, 0.5, -0.5, 1.0, -1.0, 30.0, -30.0, 100.0]


def _unary_and_binary_formulas() -> list[Formula]:
    formulas = [Formula.call(op, x) for op in UNARY]
    for op in BINARY:
        formulas += [
            Formula.call(op, x, x),
            Formula.call(op, Formula.const(0.7), x),
            Formula.call(op, x, Formula.const(0.7)),
            Formula.call(op, x, Formula.const(0.0)),
            Formula.call(op, x, Formula.call("sin", x)),
            Formula.call(op, Formula.call("sin", x), x),
        ]
    return formulas


ALL_SMALL = _unary_and_binary_formulas()


@pytest.mark.parametrize("formula", ALL_SMALL, ids=str)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_values_and_gradients_are_finite_at_hard_points(
    formula: Formula, dtype: torch.dtype
) -> None:
    t = torch.tensor(HARD_POINTS, dtype=dtype, requires_grad=True)
    y = formula.to_torch()(t)
    assert y.dtype == dtype and y.shape == t.shape
    if y.requires_grad:
        (grad,) = torch.autograd.grad(y.sum(), t)
    else:  # constant in x (div(x, 0) is 1 everywhere): no graph, zero gradient
        grad = torch.zeros_like(t)
    assert torch.isfinite(y).all(), y
    assert torch.isfinite(grad).all(), grad


def _intermediate_scale(formula: Formula, points: np.ndarray) -> np.ndarray:
    """Largest |value| of any subtree at each point (float64): the scale rounding acts on."""
    with np.errstate(all="ignore"):
        values = [np.abs(node.to_numpy(features=False)(points)) for node in formula.nodes()]
    return np.max(values, axis=0)


@pytest.mark.parametrize("formula", ALL_SMALL, ids=str)
def test_numpy_and_torch_agree(formula: Formula) -> None:
    points = np.array(HARD_POINTS + list(np.linspace(-4, 4, 41)))
    # float32 rounding is relative to the intermediate values, not to the result: x - sin(x)
    # near 0.4 cancels to 0.01 and keeps only the absolute accuracy of 0.4 in float32.
    scale = _intermediate_scale(formula, points)
    for dtype, rtol in ((np.float64, 1e-12), (np.float32, 1e-6)):
        a = points.astype(dtype)
        with np.errstate(all="ignore"):
            expected = formula.to_numpy()(a)
        got = formula.to_torch()(torch.from_numpy(a)).numpy()
        assert got.dtype == expected.dtype == dtype
        # (sigmoid(-100) is 0 in numpy, exp overflowing, and ~1e-44 in torch: absolute floor)
        error = np.abs(got.astype(np.float64) - expected)
        assert np.all(error <= rtol * scale + 1e-30), (str(formula), error, scale)


def test_protected_semantics_match_gplearn_values() -> None:
    t = torch.tensor([0.0, 1e-9, 1e-3, -2.0], dtype=torch.float64)
    f = lambda text: parse_formula(text).to_torch()(t).tolist()  # noqa: E731
    assert f("div(1, x)") == [1.0, 1.0, 1.0, -0.5]
    assert f("inv(x)") == [0.0, 0.0, 0.0, -0.5]
    assert f("log(x)") == [0.0, 0.0, 0.0, pytest.approx(np.log(2.0))]
    assert f("sqrt(x)") == [
        0.0,
        pytest.approx(np.sqrt(1e-9)),
        pytest.approx(np.sqrt(1e-3)),
        pytest.approx(np.sqrt(2)),
    ]
    assert f("exp(mul(x, 1000))")[3] == pytest.approx(0.0)
    assert parse_formula("exp(x)").to_torch()(torch.tensor([1e4])).item() == pytest.approx(
        np.exp(80.0), rel=1e-6
    )


def test_any_shape_and_device_dtype_kept() -> None:
    f = parse_formula("add(mul(cos(x), x), 0.5)").to_torch()
    for shape in [(), (3,), (2, 3, 4, 5)]:
        t = torch.randn(shape)
        out = f(t)
        assert out.shape == t.shape
        torch.testing.assert_close(out, t * torch.cos(t) + 0.5)
    arr = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
    out = parse_formula("mul(cos(x), x)").to_numpy()(arr)
    assert out.shape == arr.shape and out.dtype == np.float32


def test_constant_formulas_broadcast() -> None:
    t = torch.zeros(2, 3, dtype=torch.float64)
    assert torch.equal(
        parse_formula("sin(0.5)").to_torch()(t),
        torch.full((2, 3), np.sin(0.5), dtype=torch.float64),
    )
    three = parse_formula("add(1, 2)")
    assert three.to_numpy(features=False)(np.zeros((4, 2))).tolist() == [[3.0, 3.0]] * 4
    assert three.to_numpy()(np.zeros((2, 2, 3))).shape == (2, 2, 3)  # element-wise, not 2-D
    assert three.to_numpy()(np.zeros(5)).tolist() == [3.0] * 5
    assert parse_formula("1.5").to_numpy(features=True)(np.zeros((4, 2))).tolist() == [1.5] * 4


def test_a_program_without_variables_gives_one_value_per_row_as_gplearn_does() -> None:
    # gplearn evolves such programs; on a 2-D feature array its execute returns (rows,)
    X = np.random.default_rng(0).normal(size=(6, 3))
    f = parse_formula("tan(sqrt(-0.725))")
    out = f.to_numpy()(X)
    assert out.shape == (6,) and out.dtype == np.float64
    np.testing.assert_array_equal(out, np.repeat(np.tan(np.sqrt(0.725)), 6))
    assert parse_formula("add(1, 2)").to_numpy()(np.zeros((4, 2))).tolist() == [3.0] * 4


def test_feature_mode_in_torch_selects_columns() -> None:
    f = parse_formula("add(mul(X1, cos(X1)), X0)")
    X = torch.randn(7, 3, dtype=torch.float64)
    torch.testing.assert_close(f.to_torch()(X), X[:, 1] * torch.cos(X[:, 1]) + X[:, 0])
    np.testing.assert_allclose(f.to_numpy()(X.numpy()), f.to_torch()(X).numpy(), rtol=1e-12)


def test_mixing_x_and_features_is_refused() -> None:
    f = parse_formula("add(x, X1)")
    with pytest.raises(FormulaError, match="univariate"):
        f.to_torch()
    with pytest.raises(FormulaError, match="univariate"):
        parse_formula("sin(X1)").to_torch(features=False)


def test_to_sympy_and_latex() -> None:
    f = parse_formula("add(mul(cos(x), x), div(x, 2))")
    s = sympy.Symbol("x")  # the symbol a sympy user writes
    assert f.to_sympy() - (s * sympy.cos(s) + s / 2) == 0  # cancels without simplify
    assert f.to_sympy().subs(s, 2) == 2 * sympy.cos(2) + 1
    assert f.to_sympy().free_symbols == {s}
    assert parse_formula("sin(X3)").to_sympy() == sympy.sin(sympy.Symbol("X3"))
    assert f.to_latex() == r"\cos\left(x\right) \cdot x + \frac{x}{2.0}"
    assert parse_formula("mul(add(x, 1), sub(x, neg(X3)))").to_latex() == (
        r"\left(x + 1.0\right) \cdot \left(x - -X_{3}\right)"
    )
    assert parse_formula("sub(x, sub(x, 1e-05))").to_latex() == (
        r"x - \left(x - 1 \cdot 10^{-5}\right)"
    )
    assert parse_formula("neg(neg(x))").to_latex() == r"-\left(-x\right)"
    for op in OPERATORS:  # every template fills all its slots
        args = [x] * OPERATORS[op].arity
        assert "$" not in Formula.call(op, *args).to_latex()


@pytest.mark.parametrize(
    ("text", "simplified"),
    [
        ("add(mul(sin(x), sin(x)), mul(cos(x), cos(x)))", "1.0"),
        ("sub(add(x, x), x)", "x"),
        ("mul(cos(x), x)", "mul(cos(x), x)"),  # already simplest: kept as is
        ("add(mul(2, x), mul(3, x))", "mul(5.0, x)"),
        ("neg(neg(sin(X2)))", "sin(X2)"),
        ("log(mul(x, x))", "log(mul(x, x))"),  # sympy's 2*log|x| is no smaller
        ("div(sub(mul(x, x), 1), add(x, 1))", "sub(x, 1.0)"),
    ],
)
def test_simplify(text: str, simplified: str) -> None:
    f = parse_formula(text)
    g = f.simplify()
    assert str(g) == simplified
    assert g.size <= f.size


def test_simplify_rejects_results_that_evaluate_differently() -> None:
    # sympy turns inv(inv(x)) into x, but the protected inv makes it 0 where |x| <= 0.001
    # or |x| >= 1000; the numeric check visits those magnitudes and keeps the original.
    f = parse_formula("inv(inv(x))")
    assert f.simplify() == f
    g = parse_formula("div(mul(x, x), x)")  # x**2/x -> x, but the protected div is 1 near 0
    assert g.simplify() == g


def test_from_sympy_round_trips_table_operators() -> None:
    for op in ("sin", "cos", "tan", "tanh", "exp", "erf", "abs", "log", "sqrt"):
        f = Formula.call(op, x)
        assert from_sympy(f.to_sympy()) == f
    with pytest.raises(FormulaError):
        from_sympy(sympy.gamma(sympy.Symbol("x")))


@pytest.mark.parametrize(
    ("text", "degenerate"),
    [
        ("x", True),
        ("0.5", True),
        ("add(mul(3, x), -1)", True),
        ("sub(sin(X3), sin(X3))", True),
        ("mul(cos(x), x)", False),
        ("relu(x)", False),
        ("abs(x)", False),
        ("mul(x, 1e-3)", True),
    ],
)
def test_is_degenerate(text: str, degenerate: bool) -> None:
    assert parse_formula(text).is_degenerate() is degenerate
