"""The baselines reviewers expect (ELU, SELU, Mish, leaky ReLU) against their PyTorch twins,
``torch.nn.functional.elu/selu/mish/leaky_relu`` at torch's defaults, on both training paths:
the torch path (the module ``make_activation`` builds, the formula's torch compile) and the
fused path (the kernels' interpreter running the formula's program), values and gradients,
at and around 0 and for large |x|; then whole networks, each path against ``to_module()``
trained with ``torch.optim``."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from test_stack import spam_slice
from training_helpers import assert_same_model, reference_train

from symact.formula import parse_formula
from symact.formula.activation import activation_formula, make_activation
from symact.formula.program import compile_program
from symact.models import ModelSpec
from symact.training import TrainConfig, TrainTask, kernels, train_stack
from symact.training.fused import evaluate_program, evaluate_reverse

#: name -> its PyTorch twin at torch's default parameters
TWINS = {
    "elu": F.elu,  # alpha = 1
    "selu": F.selu,  # Klambauer et al.'s alpha and scale
    "mish": F.mish,
    "leaky_relu": F.leaky_relu,  # negative slope 0.01
}
NAMES = list(TWINS)
#: torch's derivative at exactly 0 (its kernels take the x <= 0 branch there)
DERIVATIVE_AT_ZERO = {"elu": 1.0, "selu": 1.6732632423543772 * 1.0507009873554805, "mish": 0.6}
#: absolute floor of a derivative's comparison: below float32's normal range, except for
#: mish' = tanh(softplus(x)) + x sigmoid(x) (1 - tanh(softplus(x))^2), which crosses 0 near
#: x = -1.19 where its two terms (about 0.3 each) cancel: a few of their roundings
DERIVATIVE_ATOL = {"mish": 2.5e-7}


def _points() -> torch.Tensor:
    """At and around 0 (down to the smallest subnormal), ordinary values, and large |x|:
    where exp overflows (88.8), and beyond float32's reach of expm1 and exp."""
    tiny = [0.0, 1e-45, 1e-38, 1e-20, 1e-10, 1e-7, 1e-5, 1e-3, 0.01, 0.1]
    large = [5.0, 15.0, 20.0, 30.0, 80.0, 88.0, 89.0, 100.0, 1e4, 1e20, 3e38]
    grid = torch.linspace(-6.0, 6.0, 1201).tolist()
    values = [s * v for v in tiny + large for s in (1.0, -1.0)] + grid
    return torch.tensor(values, dtype=torch.float32)


def _twin_value_and_grad(name: str, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = y.clone().requires_grad_()
    out = TWINS[name](x)
    (grad,) = torch.autograd.grad(out.sum(), x)
    return out.detach(), grad


@pytest.fixture(scope="module")
def lib():
    library = kernels.load()
    assert library is not None, "the fused kernels must build here (cc and libm)"
    return library


@pytest.mark.parametrize("name", NAMES)
def test_the_torch_path_is_the_twin(name):
    """``make_activation(name)`` and the formula's torch compile compute the twin exactly,
    value and gradient, and the module is recognised as the formula (so it runs fused)."""
    y = _points()
    value, grad = _twin_value_and_grad(name, y)
    for fn in (make_activation(name), parse_formula(f"{name}(x)").to_torch()):
        x = y.clone().requires_grad_()
        out = fn(x)
        (g,) = torch.autograd.grad(out.sum(), x)
        assert torch.equal(out.detach(), value) and torch.equal(g, grad), name
    assert activation_formula(make_activation(name)) == (parse_formula(f"{name}(x)"), False)
    # float64 and bfloat16 keep their dtype and the twin's values
    for dtype in (torch.float64, torch.bfloat16):
        yd = y.to(dtype)
        assert torch.equal(parse_formula(f"{name}(x)").to_torch()(yd), TWINS[name](yd))


@pytest.mark.parametrize("name", NAMES)
def test_the_fused_path_matches_the_twin_values_and_gradients(lib, name):
    """The interpreter's value and forward-mode derivative, and its reverse sweep, against
    the twin in float32: equal to a few float32 roundings (glibc's libm against torch's
    SLEEF; relative, so expm1 is told from exp - 1 near 0), exactly equal where torch makes
    a choice (the derivative at 0)."""
    y = _points()
    value, grad = _twin_value_and_grad(name, y)
    program = compile_program(parse_formula(f"{name}(x)"))
    v, d = evaluate_program(lib, program, y)
    atol = DERIVATIVE_ATOL.get(name, 1e-37)
    torch.testing.assert_close(v, value, rtol=2e-6, atol=1e-37, msg=name)
    torch.testing.assert_close(d, grad, rtol=2e-6, atol=atol, msg=name)
    g = torch.linspace(-1.0, 1.0, y.numel())
    gx, _ = evaluate_reverse(lib, program, y, g, [])
    torch.testing.assert_close(gx, g * grad, rtol=2e-6, atol=atol, msg=name)
    zero = torch.tensor([0.0, -0.0])
    _, d0 = evaluate_program(lib, program, zero)
    _, t0 = _twin_value_and_grad(name, zero)
    assert torch.equal(d0, t0), (name, d0, t0)
    expected = DERIVATIVE_AT_ZERO.get(name, 0.01)
    assert float(t0[0]) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_learnable_constants_around_the_activations_match_autograd(lib, name):
    """Inside a formula with constants made learnable: the reverse sweep's gradients with
    respect to x and to each constant equal torch's autograd through the twin."""
    formula = parse_formula(f"add(mul(0.7, {name}(mul(1.3, x))), mul(0.2, x))")
    program = compile_program(formula, learnable_constants=True)
    y = _points()
    y = y[y.abs() < 50]  # the x-gradient of 0.2 * x is 0.2: keep the terms comparable
    g = torch.linspace(-1.0, 1.0, y.numel())
    gx, gc = evaluate_reverse(lib, program, y, g, formula.constants)
    x = y.clone().requires_grad_()
    cs = [torch.tensor(c, requires_grad=True) for c in formula.constants]
    out = cs[0] * TWINS[name](cs[1] * x) + cs[2] * x
    ref = torch.autograd.grad((out * g).sum(), [x, *cs])
    torch.testing.assert_close(gx, ref[0], rtol=1e-5, atol=1e-6, msg=name)
    torch.testing.assert_close(gc, torch.stack(ref[1:]).double(), rtol=1e-4, atol=1e-3, msg=name)


@pytest.mark.parametrize("path", ["fused", "torch"])
@pytest.mark.parametrize("name", NAMES)
def test_a_network_trains_as_its_pytorch_twin(spambase, monkeypatch, name, path):
    """Each activation in a network, on each path, equals ``to_module()`` (which holds the
    ``nn.ELU``/``nn.SELU``/``nn.Mish``/``nn.LeakyReLU`` module) trained with torch.optim."""
    monkeypatch.setenv("SYMACT_KERNELS", path)
    spec = ModelSpec(hidden=(64, 32), dropout=0.3, activation=name)
    config = TrainConfig(epochs=2)
    task = TrainTask(*spam_slice(spambase, 42), spec, seed=1)
    (outcome,) = train_stack([task], config, return_models=True)
    assert outcome.backend == path
    assert type(outcome.model.hidden[0].act) is type(make_activation(name))
    reference = reference_train(task, config)
    assert_same_model(outcome.model, reference)
    x_test = torch.as_tensor(task.X_eval)
    with torch.no_grad():
        torch.testing.assert_close(outcome.model(x_test), reference(x_test), atol=1e-5, rtol=0)


def test_one_stack_of_all_four_trains_alike_on_both_paths(spambase, monkeypatch):
    """The four in one stack (beside ReLU), fused kernels against torch ops."""
    spec = ModelSpec(hidden=(64, 32))
    config = TrainConfig(epochs=2)
    split = spam_slice(spambase, 42)
    tasks = [
        TrainTask(*split, spec.with_activation(a), seed=i + 1)
        for i, a in enumerate(["relu", *NAMES])
    ]
    out = {}
    for path in ("fused", "torch"):
        monkeypatch.setenv("SYMACT_KERNELS", path)
        out[path] = train_stack(tasks, config, return_models=True)
    for a, b in zip(out["fused"], out["torch"], strict=True):
        assert (a.backend, b.backend) == ("fused", "torch")
        assert_same_model(a.model, b.model)
        assert abs(a.auc - b.auc) < 1e-3
