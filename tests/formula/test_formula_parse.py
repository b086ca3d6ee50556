"""Parser tests: gplearn prefix and infix syntax, canonical printing, and rejected input."""

from __future__ import annotations

import numpy as np
import pytest

from symact.formula import Formula, FormulaError, parse_formula
from symact.formula.parser import MAX_LENGTH
from symact.formula.tree import MAX_DEPTH

x = Formula.var("x")


def c(v: float) -> Formula:
    return Formula.const(v)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("add(mul(X3, cos(X3)), -0.412)", "add(mul(X3, cos(X3)), -0.412)"),
        ("mul(cos(x), x)", "mul(cos(x), x)"),
        ("x*cos(x) + 0.5", "add(mul(x, cos(x)), 0.5)"),
        ("max(x, 0)", "max(x, 0.0)"),
        ("-x", "neg(x)"),
        ("-0.5", "-0.5"),
        ("x**2", "mul(x, x)"),
        ("x**3", "mul(mul(x, x), x)"),
        ("x**0", "1.0"),
        ("-x**2", "neg(mul(x, x))"),  # ** binds tighter than unary minus, as in Python
        ("-2**2", "neg(mul(2.0, 2.0))"),
        ("x / X0", "div(x, X0)"),
        ("x - y0" if False else "x - 1", "sub(x, 1.0)"),
        ("x - -0.5", "sub(x, -0.5)"),
        ("1 - x - x", "sub(sub(1.0, x), x)"),  # left associative
        ("1 + 2 * x", "add(1.0, mul(2.0, x))"),  # precedence
        ("(1 + 2) * x", "mul(add(1.0, 2.0), x)"),
        ("-x * 2", "mul(neg(x), 2.0)"),
        ("+x", "x"),
        ("  sin( x )\n", "sin(x)"),
        (".5e-3", "0.0005"),
        ("1E3", "1000.0"),
        ("sig(tanh(relu(softplus(erf(exp(x))))))", "sig(tanh(relu(softplus(erf(exp(x))))))"),
    ],
)
def test_parse_prints_canonical_form(text: str, canonical: str) -> None:
    f = parse_formula(text)
    assert str(f) == canonical
    assert parse_formula(str(f)) == f


def test_structure_and_properties() -> None:
    f = parse_formula("add(mul(X3, cos(X3)), -0.412)")
    assert f == Formula.call(
        "add",
        Formula.call("mul", Formula.var("X3"), Formula.call("cos", Formula.var("X3"))),
        c(-0.412),
    )
    assert hash(f) == hash(parse_formula(str(f)))
    assert f.variables == ("X3",)
    assert (f.size, f.depth) == (6, 4)
    assert f.constants == (-0.412,)
    assert f != parse_formula("add(mul(X3, cos(X3)), -0.413)")
    assert str(f.univariate()) == "add(mul(x, cos(x)), -0.412)"
    assert str(parse_formula("mul(cos(X3), X3)").univariate()) == "mul(cos(x), x)"
    assert parse_formula("add(X10, add(x, X2))").variables == ("x", "X2", "X10")


def test_with_constants_replaces_in_print_order() -> None:
    f = parse_formula("add(mul(0.1, x), sub(0.2, max(x, 0.3)))")
    assert f.constants == (0.1, 0.2, 0.3)
    g = f.with_constants([1.0, 2.0, 3.0])
    assert str(g) == "add(mul(1.0, x), sub(2.0, max(x, 3.0)))"
    with pytest.raises(FormulaError, match="3 constant"):
        f.with_constants([1.0])


def test_formula_is_immutable() -> None:
    f = parse_formula("sin(x)")
    with pytest.raises(AttributeError):
        f.op = "cos"  # type: ignore[misc]


def test_constructor_validates() -> None:
    with pytest.raises(FormulaError, match="unknown operator"):
        Formula.call("pow", x, x)
    with pytest.raises(FormulaError, match="takes 2"):
        Formula.call("add", x)
    with pytest.raises(FormulaError, match="not finite"):
        Formula.const(float("nan"))
    with pytest.raises(FormulaError, match="variable"):
        Formula.var("y")


@pytest.mark.parametrize("value", ["1); system(", "0.5", b"1", None, [1.0], True, 10**400])
def test_a_constant_must_be_a_number(value: object) -> None:
    # text is refused even where float() would read it ("0.5"): text goes to parse_formula
    with pytest.raises(FormulaError, match="a constant needs a number"):
        Formula.const(value)  # type: ignore[arg-type]
    with pytest.raises(FormulaError, match="a constant needs a number"):
        parse_formula("add(x, 1.0)").with_constants([value])  # type: ignore[list-item]
    assert Formula.const(np.float32(0.5)).value == 0.5 and Formula.const(3).value == 3.0


HOSTILE = [
    "__import__('os').system('touch {marker}')",
    "x.__class__",
    "x.__class__.__bases__[0].__subclasses__()",
    "lambda x: x",
    "open('{marker}', 'w')",
    "getattr(x, 'y')",
    "eval('1')",
    "exec",
    "x if x else x",
    "[x]",
    "{x}",
    "x; import os",
    "x\x00",
    "1e999",
    "-1e999",
    "9" * 400,
    "nan",
    "inf",
    "NaN",
    "x y",
    "2x",
    "sin x",
    "sin",
    "",
    "   ",
    "\n\t",
    "add(x)",
    "add(x, x, x)",
    "mul(x,)",
    "mul(,x)",
    "mul(x x)",
    "cos()",
    "cos(x",
    "cos(x))",
    "(x",
    "x)",
    "()",
    "x +",
    "* x",
    "x ** -1",
    "x ** 0.5",
    "x ** 17",
    "x ** x",
    "x ** 2 ** 2",
    "x ^ 2",
    "x // 2",
    "x % 2",
    "x == x",
    "X",
    "X01",
    "y",
    "X-1",
    "Sin(x)",
    "pow(x, 2)",
    "\u0445",  # Cyrillic small ha, looks like x
    "\u0441os(x)",  # Cyrillic es in cos
    "\uff58",  # fullwidth x
    "x\u00a0+ 1",  # no-break space
    "\u0661",  # Arabic-Indic digit one
    "x" * 10_000_000,
    "sin(" * 200_000 + "x" + ")" * 200_000,
    "(" * 200_000,
    "(" * 10_000 + "x" + ")" * 10_000,
    "neg(" * 5_000 + "x" + ")" * 5_000,
    "-" * 50_000 + "x",
    "x" + "+x" * 30_000,
    "(((x**16)**16)**16)**16",
]


@pytest.mark.parametrize("template", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_text_raises_formula_error_and_runs_nothing(template: str, tmp_path) -> None:
    marker = tmp_path / "pwned_xyz"
    text = template.replace("{marker}", str(marker))
    with pytest.raises(FormulaError):
        parse_formula(text)
    assert not marker.exists()


def test_non_string_input_is_rejected() -> None:
    for value in (b"x", 1.0, None, ["x"]):
        with pytest.raises(FormulaError, match="must be a str"):
            parse_formula(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "position", "token"),
    [
        ("add(x, foo(x))", 7, "'foo'"),
        ("mul(x, x) y", 10, "'y'"),
        ("x.__class__", 1, "'.'"),
        ("lambda x: x", 0, "'lambda'"),
        ("add(x)", 0, "'add' takes 2"),
        ("sin(x", 5, "end of text"),
        ("x + \u0445", 4, "U+0445"),
        ("1e999", 0, "not finite"),
    ],
)
def test_error_names_position_and_token(text: str, position: int, token: str) -> None:
    with pytest.raises(FormulaError) as info:
        parse_formula(text)
    message = str(info.value)
    assert f"position {position}" in message
    assert token in message


def test_limits_are_enforced_by_formula_error_not_recursion_error() -> None:
    with pytest.raises(FormulaError, match="characters"):
        parse_formula("x" * (MAX_LENGTH + 1))
    nested = "sin(" * (MAX_DEPTH + 5) + "x" + ")" * (MAX_DEPTH + 5)
    with pytest.raises(FormulaError, match="deeper"):
        parse_formula(nested)
    # just under the limit parses, and every walk over it works without recursion errors
    ok = parse_formula("sin(" * (MAX_DEPTH - 1) + "x" + ")" * (MAX_DEPTH - 1))
    assert ok.depth == MAX_DEPTH
    assert parse_formula(str(ok)) == ok
    assert ok.to_numpy()(0.5).shape == ()
    assert ok.to_latex().count(r"\sin") == MAX_DEPTH - 1


def test_aliases_from_the_operator_table_parse_to_the_row_and_print_its_name():
    f = parse_formula("x * sigmoid(1.5 * x) + swish(x)")
    assert f == parse_formula("add(mul(x, sig(mul(1.5, x))), silu(x))")
    assert str(f) == "add(mul(x, sig(mul(1.5, x))), silu(x))"
    with pytest.raises(FormulaError, match=r"operator 'sigmoid' must be called with arguments"):
        parse_formula("sigmoid + x")
    with pytest.raises(FormulaError, match=r"unknown function 'sigmoidd'.*sigmoid"):
        parse_formula("sigmoidd(x)")
