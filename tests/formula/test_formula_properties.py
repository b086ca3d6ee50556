"""Property tests (hypothesis) over random formula trees.

- print -> parse gives an equal formula;
- torch and numpy agree, in float64 and float32, within a first-order rounding-error bound:
  every node's own rounding (4 units in the last place of its value) propagated to the result
  through the formula's derivatives. Where the formula is well conditioned that bound is about
  1e-6 of the result in float32; where it cancels (x - sin(x) near 0) or amplifies (tan near a
  pole) the bound grows exactly as the true float32 error does;
- ``torch.autograd.gradcheck`` in float64, at points away from kinks and protected thresholds;
- values and gradients finite at 0, +-1e-9 and ordinary points.
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from symact.formula import OPERATORS, Formula, parse_formula
from symact.formula.operators import EXP_MAX, PROTECTION_THRESHOLD

UNARY = sorted(n for n, r in OPERATORS.items() if r.arity == 1)
BINARY = sorted(n for n, r in OPERATORS.items() if r.arity == 2)

# operators computed from several rounded terms, x * g(x), whose own rounding is relative to
# |x| rather than to the value (GELU's 1 + erf(x / sqrt 2) cancels for negative x)
COMPOSITE = {"gelu", "silu", "mish"}
# operators whose derivative (or second derivative: elu) jumps at 0
KINK_AT_ZERO = ("abs", "relu", "sqrt", "log", "elu", "selu", "leaky_relu")

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


def _trees(leaves: st.SearchStrategy[Formula], max_leaves: int) -> st.SearchStrategy[Formula]:
    def extend(children: st.SearchStrategy[Formula]) -> st.SearchStrategy[Formula]:
        return st.one_of(
            st.builds(lambda op, a: Formula(op, (a,)), st.sampled_from(UNARY), children),
            st.builds(
                lambda op, a, b: Formula(op, (a, b)), st.sampled_from(BINARY), children, children
            ),
        )

    return st.recursive(leaves, extend, max_leaves=max_leaves)


any_constant = st.floats(allow_nan=False, allow_infinity=False).map(Formula.const)
any_variable = st.one_of(
    st.just(Formula.var("x")), st.integers(0, 30).map(lambda i: Formula.var(f"X{i}"))
)
any_tree = _trees(st.one_of(any_variable, any_constant), max_leaves=25)

small_constant = st.floats(-3.0, 3.0, allow_nan=False).map(Formula.const)
activation_tree = _trees(st.one_of(st.just(Formula.var("x")), small_constant), max_leaves=8)


@SETTINGS
@given(any_tree)
def test_print_parse_round_trip(formula: Formula) -> None:
    text = str(formula)
    again = parse_formula(text)
    assert again == formula
    assert hash(again) == hash(formula)
    assert str(again) == text
    assert (again.size, again.depth, again.variables) == (
        formula.size,
        formula.depth,
        formula.variables,
    )


def _subtree_arguments(formula: Formula, points: np.ndarray) -> list[tuple[str, list[np.ndarray]]]:
    """(operator, float64 argument values) for every operator node."""
    out = []
    with np.errstate(all="ignore"):
        for node in formula.nodes():
            if node.args:
                out.append((node.op, [a.to_numpy(features=False)(points) for a in node.args]))
    return out


def _near_branch_switch(formula: Formula, points: np.ndarray, margin: float) -> np.ndarray:
    """Points where some node sits within ``margin`` of a kink, jump or protected threshold."""
    bad = np.zeros(points.shape, dtype=bool)
    for op, args in _subtree_arguments(formula, points):
        a = args[0]
        if op in ("div", "log", "inv"):
            t = args[1] if op == "div" else a
            bad |= np.abs(np.abs(t) - PROTECTION_THRESHOLD) < margin
        if op in KINK_AT_ZERO:
            bad |= np.abs(a) < margin
        if op in ("max", "min"):
            bad |= np.abs(a - args[1]) < margin
        if op == "exp":
            bad |= np.abs(a - EXP_MAX) < margin
        if op == "softplus":  # torch switches to the identity above 20
            bad |= np.abs(a - 20.0) < margin
        if op == "tan":
            bad |= np.abs(np.cos(a)) < 0.05
        bad |= ~np.all([np.isfinite(v) & (np.abs(v) < 1e30) for v in args], axis=0)
    return bad


def _rounding_bound(formula: Formula, points: np.ndarray, unit: float) -> np.ndarray:
    """First-order bound on the rounding error of evaluating ``formula`` in a precision.

    Each node's value is perturbed by a zero tensor d_n; d(result)/d(d_n) is how an error at
    that node reaches the result. Bound = sum_n |d result/d d_n| * 4 * unit * |value_n|.
    """
    x = torch.tensor(points, dtype=torch.float64)
    perturbations: list[tuple[torch.Tensor, torch.Tensor]] = []

    def evaluate(node: Formula) -> torch.Tensor:
        if node.is_var:
            return x  # inputs are exactly representable: drawn in the target precision
        if node.is_const:
            value = torch.full_like(x, node.value)
            size = value
        else:
            args = [evaluate(a) for a in node.args]
            value = OPERATORS[node.op].torch(*args)
            size = value
            if node.op in COMPOSITE:  # x * (sum of terms): rounding of terms of size |x|
                size = torch.maximum(value.abs(), args[0].abs())
        d = torch.zeros_like(x, requires_grad=True)
        perturbations.append((d, size.detach()))
        return value + d

    result = evaluate(formula)
    bound = torch.zeros_like(x)
    if not result.requires_grad:  # a bare variable: nothing is rounded
        return bound.numpy()
    grads = torch.autograd.grad(
        result.sum(), [d for d, _ in perturbations], allow_unused=True, materialize_grads=True
    )
    for grad, (_, value) in zip(grads, perturbations, strict=True):
        bound += grad.abs() * value.abs() * 4 * unit
    return bound.numpy()


def _points(seed: int, dtype: type) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0, 1.5, 48), [0.0, 1e-9, -1e-9, 0.5, -2.0]]).astype(dtype)


@SETTINGS
@given(activation_tree, st.integers(0, 2**16))
def test_numpy_and_torch_agree_within_rounding_bound(formula: Formula, seed: int) -> None:
    assume("x" in formula.variables)
    for dtype, unit in ((np.float64, 2.0**-53), (np.float32, 2.0**-24)):
        points = _points(seed, dtype)
        p64 = points.astype(np.float64)
        keep = ~_near_branch_switch(formula, p64, margin=1e-4)
        with np.errstate(all="ignore"):
            reference = formula.to_numpy()(p64)
            expected = formula.to_numpy()(points)
        keep &= np.isfinite(reference) & (np.abs(reference) < 1e30)
        got = formula.to_torch()(torch.from_numpy(points)).numpy()
        assert got.dtype == expected.dtype == dtype
        bound = _rounding_bound(formula, p64, unit)
        error = np.abs(got.astype(np.float64) - expected.astype(np.float64))
        ok = error <= 2 * bound + 1e-30
        assert np.all(ok[keep]), (str(formula), dtype, p64[keep & ~ok], error[keep & ~ok])


@SETTINGS
@given(activation_tree, st.integers(0, 2**16))
def test_gradcheck_float64(formula: Formula, seed: int) -> None:
    assume("x" in formula.variables)
    points = _points(seed, np.float64)
    points = points[~_near_branch_switch(formula, points, margin=1e-3)]
    with np.errstate(all="ignore"):
        values = formula.to_numpy()(points)
    points = points[np.isfinite(values) & (np.abs(values) < 1e12)]
    assume(points.size >= 3)
    x = torch.tensor(points, dtype=torch.float64, requires_grad=True)
    fn = formula.to_torch()
    assert torch.autograd.gradcheck(fn, (x,), eps=1e-7, atol=1e-5, rtol=1e-3)


@SETTINGS
@given(activation_tree)
def test_values_and_gradients_finite_at_zero_and_tiny(formula: Formula) -> None:
    x = torch.tensor(
        [0.0, 1e-9, -1e-9, 1e-3, -1e-3, 0.7, -1.3], dtype=torch.float64, requires_grad=True
    )
    y = formula.to_torch()(x)
    assert torch.isfinite(y).all()
    if y.requires_grad:
        (grad,) = torch.autograd.grad(y.sum(), x)
        assert torch.isfinite(grad).all(), (str(formula), grad)
