"""Formula -> register program -> the kernels' interpreter, against torch's values and
autograd: forward mode (value and derivative) and reverse mode (gradients with respect to x
and to every constant), for every operator of the table and for random gplearn programs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_formula_gplearn import _random_programs
from test_formula_properties import _near_branch_switch, _rounding_bound

from symact.formula import OPERATORS, Formula, FormulaError, parse_formula
from symact.formula.ccode import interpreter_source
from symact.formula.compile import compile_torch_learnable
from symact.formula.operators import PROTECTION_THRESHOLD
from symact.formula.program import OPCODES, compile_program
from symact.training import kernels
from symact.training.fused import evaluate_program, evaluate_reverse


@pytest.fixture(scope="module", params=[True, False], ids=["vector-libm", "scalar-libm"])
def lib(request, tmp_path_factory):
    """The kernel library built both ways: with glibc's vector math and the scalar fallback."""
    source = kernels.library_source(libmvec=request.param)
    path = tmp_path_factory.mktemp("lib") / "symact.so"
    kernels.compile_library(source, path, libmvec=request.param)
    return kernels.load_library(path)


def _torch_value_and_grad(formula: Formula, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = y.clone().requires_grad_()
    out = formula.to_torch()(x)
    if not out.requires_grad:
        return out.detach(), torch.zeros_like(y)
    (grad,) = torch.autograd.grad(out.sum(), x)
    return out.detach(), grad


# Every operator alone, with a constant on either side, and against itself (max/min ties).
OPERATOR_FORMULAS = [
    text
    for name, row in OPERATORS.items()
    for text in (
        [f"{name}(x)", f"{name}(sin(x))"]
        if row.arity == 1
        else [f"{name}(x, sin(x))", f"{name}(x, 0.3)", f"{name}(0.3, x)", f"{name}(x, x)"]
    )
]


def _operator_points() -> torch.Tensor:
    t = PROTECTION_THRESHOLD
    special = [0.0, t, -t, 0.999 * t, 1.001 * t, 0.3, 20.0, 21.0, 79.0, 81.0, -30.0, 1e-7]
    grid = np.linspace(-6.0, 6.0, 1201)
    grid = grid[np.abs(np.cos(grid)) > 1e-2]  # tan's poles
    return torch.tensor(np.concatenate([grid, special]), dtype=torch.float32)


def _assert_no_worse_than_torch(formula, y, deriv, deriv32) -> None:
    """The kernels' float32 derivative is as close to the float64 truth as torch's float32
    one, about, give or take the float32 noise torch shows at neighbouring points.

    A fixed tolerance would be wrong where the derivative cancels (x / sin(x) near 0:
    1/sin(x) - x cos(x)/sin(x)^2): there any float32 evaluation, torch's included, is off by
    the terms' rounding; a float32 evaluation at the next few floats shows how much.
    """
    _, truth = _torch_value_and_grad(formula, y.double())
    noise = torch.zeros_like(truth)
    for k in (-2, -1, 1, 2):
        _, near = _torch_value_and_grad(formula, y * (1 + k * 2.0**-23))
        noise = torch.maximum(noise, (near.double() - deriv32.double()).abs())
    err_c, err_torch = (deriv.double() - truth).abs(), (deriv32.double() - truth).abs()
    ok = err_c <= 4 * err_torch + 4 * noise + 1e-4 * truth.abs() + 1e-6
    assert bool(ok.all()), (str(formula), y[~ok], deriv[~ok], truth[~ok])


def test_every_operator_matches_torch_values_and_autograd(lib) -> None:
    y = _operator_points()
    for text in OPERATOR_FORMULAS:
        formula = parse_formula(text)
        value, deriv = evaluate_program(lib, compile_program(formula), y)
        ref_value, ref_deriv = _torch_value_and_grad(formula, y)
        torch.testing.assert_close(value, ref_value, rtol=2e-6, atol=1e-6, msg=text)
        _assert_no_worse_than_torch(formula, y, deriv, ref_deriv)


def test_reverse_mode_matches_autograd_for_x_and_every_constant(lib) -> None:
    """Learnable constants: the reverse sweep's gradients against torch's autograd through
    compile_torch_learnable, for every operator with a constant in each argument."""
    y = _operator_points()
    y = y[(y.abs() - PROTECTION_THRESHOLD).abs() > 1e-5]  # not on the protection switch
    g = torch.linspace(-1.0, 1.0, y.numel())
    for name, row in OPERATORS.items():
        texts = [f"{name}(mul(0.7, x))", f"add({name}(x), 0.2)"]
        if row.arity == 2:
            texts = [f"{name}(mul(0.7, x), add(x, 0.4))", f"{name}(x, 0.3)", f"{name}(0.3, x)"]
        for text in texts:
            formula = parse_formula(text)
            program = compile_program(formula, learnable_constants=True)
            gx, gc = evaluate_reverse(lib, program, y, g, formula.constants)
            # in float32, as the kernels: ties (max(x, 0.3) at x = 0.3f) fall on the same points
            x = y.clone().requires_grad_()
            cs = [torch.tensor(c, requires_grad=True) for c in formula.constants]
            out = compile_torch_learnable(formula)((x, cs))
            ref = torch.autograd.grad((out * g).sum(), [x, *cs])
            torch.testing.assert_close(gx, ref[0], rtol=1e-4, atol=1e-4, msg=text)
            ref_c = torch.stack(ref[1:]).double()
            torch.testing.assert_close(gc, ref_c, rtol=1e-4, atol=1e-2, msg=text)


def test_derivative_conventions_where_torch_makes_a_choice(lib) -> None:
    """abs'(0) = 0, relu'(0) = 0, a tie of max splits the gradient, a protected branch is 0."""
    cases = {
        "abs(x)": (0.0, 0.0),
        "relu(x)": (0.0, 0.0),
        "max(x, x)": (1.5, 1.0),  # 0.5 * (1 + 1)
        "max(x, 0.3)": (0.3, 1.0),  # clamp passes the gradient at its bound
        "min(0.3, x)": (0.3, 1.0),
        "div(1.0, x)": (0.0005, 0.0),
        "log(x)": (-0.0005, 0.0),
        "sqrt(x)": (0.0, 0.0),
    }
    for text, (point, expected) in cases.items():
        _, deriv = evaluate_program(
            lib, compile_program(parse_formula(text)), torch.tensor([point])
        )
        assert float(deriv[0]) == expected, text


def test_random_gplearn_programs_match_torch_within_rounding(lib) -> None:
    formulas = [parse_formula(str(p)).univariate() for p in _random_programs(250, 1, seed=11)]
    formulas = [f for f in formulas if "x" in f.variables]
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(0, 1.5, 400), [0.0, 0.5, -2.0]]).astype(np.float32)
    p64 = points.astype(np.float64)
    y = torch.from_numpy(points)
    for formula in formulas:
        value, deriv = evaluate_program(lib, compile_program(formula), y)
        ref_value, ref_deriv = _torch_value_and_grad(formula, y)
        keep = ~_near_branch_switch(formula, p64, margin=1e-3)
        keep &= np.isfinite(ref_value.numpy()) & (np.abs(ref_value.numpy()) < 1e6)
        keep &= np.isfinite(ref_deriv.numpy()) & (np.abs(ref_deriv.numpy()) < 1e4)
        # both float32 evaluations lie within the first-order rounding bound of the truth
        bound = _rounding_bound(formula, p64, 2.0**-24)
        error = (value - ref_value).abs().double().numpy()
        assert np.all((error <= 4 * bound + 1e-30)[keep]), str(formula)
        # derivatives of ill-conditioned points (where float32 rounding of the value is
        # amplified over 100x, e.g. tan(tan(tan(.)))) are compared only through the value
        keep &= bound <= 100 * 2.0**-24 * (np.abs(ref_value.numpy()) + 1)
        k = torch.from_numpy(keep)
        _assert_no_worse_than_torch(formula, y[k], deriv[k], ref_deriv[k])


def test_programs_share_work_and_fold_constants() -> None:
    p = compile_program(parse_formula("add(mul(cos(x), x), mul(cos(x), add(1.0, 2.0)))"))
    ops = [op for op, *_ in p.code]
    assert ops.count(OPCODES["cos"]) == 1  # cos(x) computed once
    assert p.constants == (3.0,)  # 1 + 2 folded
    learnable = compile_program(parse_formula("mul(0.5, add(x, 0.5))"), learnable_constants=True)
    assert learnable.constants == (0.5, 0.5)  # one parameter per constant, in print order
    assert compile_program(parse_formula("relu(x)")).is_relu
    assert compile_program(parse_formula("x")).code == ()


def test_the_interpreter_is_generated_from_the_table_alone() -> None:
    """Formulas are data: the C source depends only on the operator table; every row has its
    C value and one partial derivative per argument, and appears as a case."""
    source = interpreter_source()
    for name, row in OPERATORS.items():
        assert row.c and len(row.c_grad) == row.arity, name
        assert f"case {OPCODES[name]}: /* {name} */" in source
    assert source == interpreter_source()


def test_only_formulas_of_x_compile() -> None:
    with pytest.raises(FormulaError, match="univariate"):
        compile_program(parse_formula("add(X0, X1)"))
