"""ELU, SELU, Mish and leaky ReLU as operators and named activations: parsed and printed,
exact in sympy, numpy's column (the search's screen and fingerprints) equal to the PyTorch
twin, and a module counted as its formula only at torch's default settings.

Values and gradients on both training paths: tests/training/test_named_activations.py;
the generic per-operator checks (C interpreter, property tests) read the table and cover
these rows too."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
import torch
import torch.nn.functional as F
from torch import nn

from symact.formula import OPERATORS, Formula, FormulaError, parse_formula
from symact.formula.activation import activation_formula, make_activation
from symact.formula.compile import _agree, from_sympy
from symact.formula.named import NAMED_ACTIVATIONS, named_activation
from symact.search.screen import screen
from symact.search.space import KNOWN_ACTIVATIONS, SearchSpace, random_tree

TWINS = {"elu": F.elu, "selu": F.selu, "mish": F.mish, "leaky_relu": F.leaky_relu}
NAMES = list(TWINS)
X = sympy.Symbol("x")
#: the values Klambauer et al.'s closed forms must give (torch's constants, 32 digits)
SELU_ALPHA = "1.6732632423543772848170429916717"
SELU_SCALE = "1.0507009873554804934193349852946"
#: the same functions written with older operators: equal fingerprints, trained once
EQUIVALENT = {
    "elu": "add(relu(x), min(sub(exp(x), 1.0), 0.0))",
    "selu": f"mul({SELU_SCALE}, add(relu(x), mul({SELU_ALPHA}, min(sub(exp(x), 1.0), 0.0))))",
    "mish": "mul(x, tanh(softplus(x)))",
    "leaky_relu": "max(x, mul(0.01, x))",
}
POINTS = np.array([0.0, 1e-12, -1e-12, 1e-3, -1e-3, 0.5, -0.5, 1.0, -1.0, -3.0, 7.0, -20.0, 30.0])


@pytest.mark.parametrize("name", NAMES)
def test_parse_print_round_trip_alone_and_inside_formulas(name):
    for text, canonical in [
        (f"{name}(x)", f"{name}(x)"),
        (f"2 * {name}(x) - {name}(-x)", f"sub(mul(2.0, {name}(x)), {name}(neg(x)))"),
        (f"{name}({name}(x) + 0.5)", f"{name}(add({name}(x), 0.5))"),
    ]:
        f = parse_formula(text)
        assert str(f) == canonical
        assert parse_formula(str(f)) == f
    assert OPERATORS[name].arity == 1
    label = named_activation(name).label  # type: ignore[union-attr]
    assert parse_formula(f"{name}(x)").to_latex() == rf"\operatorname{{{label}}}\left(x\right)"


def test_names_may_hold_an_underscore_but_never_start_with_one():
    assert str(parse_formula("leaky_relu(x) + x")) == "add(leaky_relu(x), x)"
    with pytest.raises(FormulaError, match="unknown function 'leaky_reLU'"):
        parse_formula("leaky_reLU(x)")
    with pytest.raises(FormulaError, match="unknown name 'x_1'"):
        parse_formula("x_1 + x")
    with pytest.raises(FormulaError, match=r"'_' .*no dunders"):
        parse_formula("__import__(x)")


def test_sympy_forms_are_exact():
    sp = {name: parse_formula(f"{name}(x)").to_sympy() for name in NAMES}
    assert sp["mish"] - X * sympy.tanh(sympy.log(1 + sympy.exp(X))) == 0
    assert sp["leaky_relu"] == sympy.Max(X, X / 100)
    elu = sympy.Piecewise((X, X > 0), (sympy.exp(X) - 1, True))
    assert sp["elu"].subs(X, sympy.Rational(-1, 3)) == elu.subs(X, sympy.Rational(-1, 3))
    assert sp["elu"].subs(X, sympy.Rational(5, 2)) == sympy.Rational(5, 2)
    # SELU's constants are Klambauer et al.'s closed forms: torch's decimals to 30 digits
    scale = sp["selu"].subs(X, 1)
    alpha = -sp["selu"].subs(X, -sympy.oo) / scale
    assert abs(scale - sympy.Float(SELU_SCALE, 40)).evalf(50) < 1e-30
    assert abs(alpha - sympy.Float(SELU_ALPHA, 40)).evalf(50) < 1e-30


@pytest.mark.parametrize("name", NAMES)
def test_sympy_values_and_derivatives_equal_the_twin_in_float64(name):
    expr = parse_formula(f"{name}(x)").to_sympy()
    derivative = sympy.diff(expr, X)
    x = torch.tensor(POINTS, dtype=torch.float64, requires_grad=True)
    out = TWINS[name](x)
    (grad,) = torch.autograd.grad(out.sum(), x)
    for p, value, slope in zip(POINTS, out.tolist(), grad.tolist(), strict=True):
        point = sympy.Float(float(p), 30)
        assert float(expr.subs(X, point).evalf(30)) == pytest.approx(value, rel=1e-14, abs=1e-300)
        if p != 0.0:  # Max/Min have no derivative at their kink
            d = float(derivative.subs(X, point).evalf(30))
            assert d == pytest.approx(slope, rel=1e-13, abs=1e-300), (name, p)


@pytest.mark.parametrize("name", NAMES)
def test_from_sympy_reads_the_sympy_form_back_as_an_equal_function(name):
    f = parse_formula(f"{name}(x)")
    back = from_sympy(f.to_sympy())
    assert back != f and _agree(f, back, seed=0)


@pytest.mark.parametrize("name", NAMES)
def test_numpy_column_equals_the_twin(name):
    """numpy evaluates the screen and the fingerprints; it must be the twin's function."""
    for dtype, rtol in ((np.float64, 1e-15), (np.float32, 4e-7)):
        a = np.concatenate([POINTS, np.linspace(-8, 8, 161), [-1e4, 1e4, -100.0, 100.0]])
        a = a.astype(dtype)
        got = parse_formula(f"{name}(x)").to_numpy()(a)
        expected = TWINS[name](torch.from_numpy(a)).numpy()
        assert got.dtype == dtype
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=1e-38)


def test_the_screen_admits_them_and_fingerprints_tell_them_apart():
    prints = {}
    for text in KNOWN_ACTIVATIONS:
        found = screen(parse_formula(text))
        assert found.reason is None, text
        prints[text] = found.fingerprint
    assert len(set(prints.values())) == len(KNOWN_ACTIVATIONS)
    assert {f"{name}(x)" for name in NAMES} <= set(KNOWN_ACTIVATIONS)
    for name, text in EQUIVALENT.items():  # the same function written otherwise: one print
        assert screen(parse_formula(text)).fingerprint == prints[f"{name}(x)"], name


def test_a_search_space_draws_them():
    space = SearchSpace(operators=("add", "mul", *NAMES))
    rng = np.random.default_rng(0)
    drawn = {n.op for _ in range(200) for n in random_tree(space, rng).nodes()}
    assert set(NAMES) <= drawn


@pytest.mark.parametrize(
    ("name", "module", "label"),
    [("elu", nn.ELU, "ELU"), ("SELU", nn.SELU, "SELU"), ("Mish", nn.Mish, "Mish"),
     ("leaky_relu", nn.LeakyReLU, "LeakyReLU")],
)  # fmt: skip
def test_named_activations_build_the_torch_module(name, module, label):
    row = named_activation(name)
    assert row is not None and row.label == label and row.name in NAMED_ACTIVATIONS
    act = make_activation(name)
    assert type(act) is module
    assert activation_formula(act) == (parse_formula(row.formula), False)


def test_a_module_counts_as_its_formula_only_at_torch_defaults():
    """The fused kernels run the table's formula: another alpha or slope is another
    function, so such a module trains on the torch path (which runs the module itself)."""
    assert activation_formula(nn.ELU(alpha=0.5)) is None
    assert activation_formula(nn.LeakyReLU(0.2)) is None
    assert activation_formula(nn.GELU(approximate="tanh")) is None
    assert activation_formula(nn.ELU(inplace=True)) == (parse_formula("elu(x)"), False)
    assert activation_formula(nn.LeakyReLU(0.01)) == (parse_formula("leaky_relu(x)"), False)
    assert activation_formula(nn.ReLU(inplace=True)) == (Formula.call("relu", Formula.var()), False)
