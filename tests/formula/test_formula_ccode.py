"""Formula -> C (value and derivative) against torch's values and autograd, compiled for real.

Many formulas are compiled into one test library (one compiler run), each as
``eval_<i>(n, y, a, d)``, with the flags the trainer's kernels use (libmvec vector math
included), and compared on float32 points with the torch compiler's output and its autograd
derivative.
"""

from __future__ import annotations

import ctypes
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from test_formula_gplearn import _random_programs
from test_formula_properties import _near_branch_switch, _rounding_bound

from symact.formula import OPERATORS, Formula, FormulaError, parse_formula
from symact.formula.ccode import LIBM_FUNCTIONS, to_c
from symact.formula.operators import PROTECTION_THRESHOLD
from symact.training.kernels import compile_library, libm_prototypes


def _library(formulas: list[Formula], tmp: Path, libmvec: bool = True) -> ctypes.CDLL:
    parts = [libm_prototypes(libmvec=libmvec)]
    for i, f in enumerate(formulas):
        parts.append(
            f"static inline float act_{i}(float y, float *d) {{\n{to_c(f)}\n}}\n"
            f"void eval_{i}(int64_t n, const float *y, float *a, float *d) {{\n"
            "#pragma omp simd\n"
            f"    for (int64_t j = 0; j < n; j++) {{ float dj; a[j] = act_{i}(y[j], &dj); "
            "d[j] = dj; }\n}\n"
        )
    out = tmp / "formulas.so"
    compile_library("\n".join(parts), out, libmvec=libmvec)
    return ctypes.CDLL(str(out))


def _evaluate(lib: ctypes.CDLL, i: int, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a, d = torch.empty_like(y), torch.empty_like(y)
    fn = getattr(lib, f"eval_{i}")
    fn.argtypes = [ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    fn(y.numel(), y.data_ptr(), a.data_ptr(), d.data_ptr())
    return a, d


def _torch_value_and_grad(formula: Formula, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = y.clone().requires_grad_()
    out = formula.to_torch()(x)
    if not isinstance(out, torch.Tensor):  # a constant formula
        return torch.full_like(y, float(out)), torch.zeros_like(y)
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


@pytest.mark.parametrize("libmvec", [True, False], ids=["vector-libm", "scalar-libm"])
def test_every_operator_matches_torch_values_and_autograd(tmp_path: Path, libmvec: bool) -> None:
    """Both builds: with glibc's vector math (the default) and the scalar fallback."""
    formulas = [parse_formula(t) for t in OPERATOR_FORMULAS]
    lib = _library(formulas, tmp_path, libmvec)
    y = _operator_points()
    for i, formula in enumerate(formulas):
        value, deriv = _evaluate(lib, i, y)
        ref_value, ref_deriv = _torch_value_and_grad(formula, y)
        torch.testing.assert_close(value, ref_value, rtol=2e-6, atol=1e-6, msg=str(formula))
        _assert_no_worse_than_torch(formula, y, deriv, ref_deriv)


def _assert_no_worse_than_torch(formula, y, deriv, deriv32) -> None:
    """C's float32 derivative is as close to the float64 truth as torch's float32 one, about.

    A fixed tolerance would be wrong where the derivative cancels (x / sin(x) near 0:
    1/sin(x) - x cos(x)/sin(x)^2), and there torch's own float32 result is just as far off.
    """
    _, truth = _torch_value_and_grad(formula, y.double())
    err_c, err_torch = (deriv.double() - truth).abs(), (deriv32.double() - truth).abs()
    ok = err_c <= 4 * err_torch + 1e-4 * truth.abs() + 1e-6
    assert bool(ok.all()), (str(formula), y[~ok], deriv[~ok], truth[~ok])


def test_derivative_conventions_where_torch_makes_a_choice(tmp_path: Path) -> None:
    """abs'(0) = 0, relu'(0) = 0, a tie of max splits the gradient, a protected branch is 0."""
    cases = {
        "abs(x)": (0.0, 0.0),
        "relu(x)": (0.0, 0.0),
        "max(x, x)": (1.5, 1.0),  # 0.5 * (1 + 1)
        "max(x, 0.3)": (0.3, 1.0),  # clamp passes the gradient at its bound
        "div(1.0, x)": (0.0005, 0.0),
        "log(x)": (-0.0005, 0.0),
        "sqrt(x)": (0.0, 0.0),
    }
    formulas = [parse_formula(t) for t in cases]
    lib = _library(formulas, tmp_path)
    for i, (text, (point, expected)) in enumerate(cases.items()):
        _, deriv = _evaluate(lib, i, torch.tensor([point]))
        assert float(deriv[0]) == expected, text


def test_random_gplearn_programs_match_torch_within_rounding(tmp_path: Path) -> None:
    formulas = [parse_formula(str(p)).univariate() for p in _random_programs(250, 1, seed=11)]
    formulas = [f for f in formulas if "x" in f.variables]
    lib = _library(formulas, tmp_path)
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(0, 1.5, 400), [0.0, 0.5, -2.0]]).astype(np.float32)
    p64 = points.astype(np.float64)
    y = torch.from_numpy(points)
    for i, formula in enumerate(formulas):
        value, deriv = _evaluate(lib, i, y)
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


def test_generated_code_holds_only_template_names() -> None:
    """Formulas are data: only numbers, x's stand-in y, node names and libm calls come out."""
    allowed = {"float", "int", "return", "y", "d", "f", *LIBM_FUNCTIONS}  # f: 1.0f
    for program in _random_programs(100, 1, seed=12):
        code = to_c(parse_formula(str(program)).univariate())
        for name in re.findall(r"[A-Za-z_]\w*", code):
            assert (
                name in allowed
                or re.fullmatch(r"[vdsbmp]\d+", name)
                or name.startswith("__builtin_")
                or re.fullmatch(r"e\d*", name)  # exponent of a float literal such as 1e-05
            ), (name, code)


def test_only_formulas_of_x_compile() -> None:
    with pytest.raises(FormulaError, match="univariate"):
        to_c(parse_formula("add(X0, X1)"))
