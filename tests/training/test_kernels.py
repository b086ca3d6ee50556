"""The fused C kernels: the same training as the torch path, one library for every formula,
the interface declared once, the build and the fallback."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from test_stack import spam_slice
from training_helpers import assert_same_model

from symact.formula import parse_formula
from symact.models import HEAVY, LIGHT, ModelSpec
from symact.training import StackedModel, TrainConfig, TrainTask, kernels, train_stack

ACTIVATIONS = [
    "relu",
    "gelu",
    "silu",
    "tanh",
    "sigmoid",
    "softplus(x)",
    "mul(cos(x), x)",
    "sub(cos(x), cos(cos(x)))",
    "add(mul(x, add(x, x)), x)",
    "div(x, add(abs(x), 1.0))",
    "max(x, 0.3)",
    "add(sqrt(add(mul(x, x), 1.0)), log(add(abs(x), 1.0)))",
]
# Not here: the identity (a linear layer before BatchNorm leaves the first BatchNorm's
# shift with an exactly zero gradient, whose rounding noise Adam turns into full steps) and
# 1/x near 0 (chaotic): both train the same function, but float32 rounding decides the walk.


def _train(tasks, config, monkeypatch, backend: str, threads: int | None = None):
    monkeypatch.setenv("SYMACT_KERNELS", backend)
    return train_stack(tasks, config, return_models=True, threads=threads)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_fused_trains_the_same_models_as_the_torch_path(spambase, monkeypatch, dropout):
    """Twelve activations in one stack, fused kernels vs torch ops: equal to float32 rounding.

    The dropout masks come from the same SplitMix64 streams on both paths; a single
    different bit would move a weight by far more than the tolerance. Seeds start at 1:
    with seed 0 a ReLU unit of this slice sits at its kink, and Adam, which divides by the
    gradient's size, turns the two paths' different rounding of a near-zero gradient into
    full steps.
    """
    spec = ModelSpec(hidden=(64, 32), dropout=dropout)
    config = TrainConfig(epochs=2)
    split = spam_slice(spambase, 42)
    tasks = [
        TrainTask(*split, spec.with_activation(a), seed=i + 1) for i, a in enumerate(ACTIVATIONS)
    ]
    fused_out = _train(tasks, config, monkeypatch, "fused")
    torch_out = _train(tasks, config, monkeypatch, "torch")
    for a, b in zip(fused_out, torch_out, strict=True):
        assert (a.backend, b.backend) == ("fused", "torch")
        assert_same_model(a.model, b.model, atol=1e-4)
        assert abs(a.auc - b.auc) < 1e-3
        np.testing.assert_allclose(a.loss_history, b.loss_history, rtol=1e-4)


def test_fused_learnable_constants_and_multiclass_match_the_torch_path(monkeypatch):
    """Learnable constants (reverse sweep in C) and softmax cross-entropy, fused vs torch."""
    from sklearn.datasets import load_wine
    from training_helpers import protocol_split

    X, y = load_wine(return_X_y=True)
    split = protocol_split(X.astype(np.float32), y.astype(np.int64), seed=0)
    spec = ModelSpec(hidden=(16, 8), n_outputs=3, learnable_constants=True)
    formulas = [
        "add(mul(x, sig(mul(1.5, x))), 0.1)",
        "mul(x, x)",
        "sub(sin(mul(2.0, x)), mul(0.25, x))",
        "max(mul(0.5, x), mul(0.1, x))",
        "div(x, add(abs(x), 1.0))",
        "relu",
    ]
    tasks = [TrainTask(*split, spec.with_activation(f), seed=i) for i, f in enumerate(formulas)]
    config = TrainConfig(epochs=4, batch_size=32)
    fused_out = _train(tasks, config, monkeypatch, "fused")
    torch_out = _train(tasks, config, monkeypatch, "torch")
    for task, a, b in zip(tasks, fused_out, torch_out, strict=True):
        assert (a.backend, b.backend) == ("fused", "torch")
        assert_same_model(a.model, b.model, atol=1e-4)
        assert len(a.learned_formulas) == (2 if task.model.n_constants else 0)
        for fa, fb in zip(a.learned_formulas, b.learned_formulas, strict=True):
            np.testing.assert_allclose(
                parse_formula(fa).constants, parse_formula(fb).constants, atol=1e-5
            )


def test_fused_heavy_and_a_partial_last_batch(spambase, monkeypatch):
    """Wide layers (200, 100) and 1,500 training rows: a last batch of 476 rows."""
    config = TrainConfig(epochs=2, batch_size=1024)
    X, y = spambase
    split = spam_slice((X[:1875], y[:1875]), 42)
    tasks = [TrainTask(*split, HEAVY, seed=s) for s in (1, 2)]
    fused_out = _train(tasks, config, monkeypatch, "fused")
    torch_out = _train(tasks, config, monkeypatch, "torch")
    for a, b in zip(fused_out, torch_out, strict=True):
        assert_same_model(a.model, b.model, atol=1e-4)


def test_fused_split_over_threads_equals_one_thread(spambase, monkeypatch):
    config = TrainConfig(epochs=1)
    split = spam_slice(spambase, 42)
    tasks = [TrainTask(*split, LIGHT.with_activation(a), seed=i) for i, a in enumerate(ACTIVATIONS)]
    one = _train(tasks, config, monkeypatch, "fused", threads=1)
    two = _train(tasks, config, monkeypatch, "fused", threads=2)
    for a, b in zip(one, two, strict=True):
        assert_same_model(a.model, b.model, atol=1e-6)


def test_a_module_that_is_no_formula_runs_the_torch_path(monkeypatch):
    from training_helpers import XCos

    monkeypatch.setenv("SYMACT_KERNELS", "auto")
    config = TrainConfig(epochs=1)
    assert StackedModel([LIGHT], 57, [1], config).backend == "fused"
    mixed = StackedModel([LIGHT, LIGHT], 57, [1, 2], config, activations=[None, XCos()])
    assert mixed.backend == "torch"
    monkeypatch.setenv("SYMACT_KERNELS", "fused")
    with pytest.raises(kernels.KernelBuildError, match="not a formula"):
        StackedModel([LIGHT], 57, [1], config, activations=[XCos()])


def test_no_compiler_falls_back_with_one_warning(spam_split, monkeypatch, tmp_path):
    monkeypatch.setenv("SYMACT_KERNELS", "auto")
    monkeypatch.setenv("SYMACT_CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("SYMACT_KERNEL_DIR", str(tmp_path / "kernels"))
    with pytest.warns(RuntimeWarning, match="torch path.*no-such-cc"):
        assert kernels.load() is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reported once, not once per stack
        task = TrainTask(*spam_split, LIGHT.with_activation("add(x, mul(0.125, sin(x)))"), 1)
        (outcome,) = train_stack([task], TrainConfig(epochs=1))
    assert outcome.backend == "torch" and not outcome.failed and outcome.auc > 0.8
    monkeypatch.setenv("SYMACT_KERNELS", "fused")
    with pytest.raises(kernels.KernelBuildError, match="no-such-cc"):
        kernels.load()


def test_one_library_serves_every_formula_and_is_built_once(monkeypatch, tmp_path):
    """No compiler on the critical path: a new formula needs no new library."""
    from symact.formula.program import compile_program
    from symact.training.fused import evaluate_program

    monkeypatch.setenv("SYMACT_KERNELS", "fused")
    monkeypatch.setenv("SYMACT_KERNEL_DIR", str(tmp_path))
    lib = kernels.load()
    assert lib.path.parent == tmp_path and lib.path.exists()
    built = list(tmp_path.iterdir())
    y = torch.linspace(-4, 4, 1001)
    for text, value, deriv in [
        ("sub(x, mul(0.0625, cos(x)))", y - 0.0625 * torch.cos(y), 1 + 0.0625 * torch.sin(y)),
        ("mul(x, tanh(x))", y * torch.tanh(y), torch.tanh(y) + y * (1 - torch.tanh(y) ** 2)),
    ]:
        got_value, got_deriv = evaluate_program(lib, compile_program(parse_formula(text)), y)
        torch.testing.assert_close(got_value, value)
        torch.testing.assert_close(got_deriv, deriv)
    assert kernels.load() is lib and list(tmp_path.iterdir()) == built


def test_the_interface_is_declared_once_and_checked():
    """Arguments are bound by name against kernels.h, with dtypes; a library built from
    another header is refused when it loads."""
    lib = kernels.load()
    gather = lib.symact_gather
    t = torch.zeros(4)
    i = torch.zeros(2, dtype=torch.int64)
    ok = dict(m=1, rows=2, d=2, src=t, ysrc=t, idx=i, stride=2, dst=t, ydst=t)
    assert len(gather.bind(**ok)) == 9
    with pytest.raises(kernels.KernelInterfaceError, match=r"missing.*ydst"):
        gather.bind(**{k: v for k, v in ok.items() if k != "ydst"})
    with pytest.raises(kernels.KernelInterfaceError, match=r"unknown.*rowz"):
        gather.bind(**ok, rowz=3)
    with pytest.raises(kernels.KernelInterfaceError, match="idx is declared int64_t"):
        gather.bind(**{**ok, "idx": torch.zeros(2, dtype=torch.int32)})
    with pytest.raises(kernels.KernelInterfaceError, match="strided"):
        gather.bind(**{**ok, "dst": torch.zeros(4, 2)[:, 0]})
    header = kernels._text(kernels.HEADER)
    sigs = kernels.parse_header(header)
    assert [p.name for p in sigs["symact_gather"].params][:3] == ["m", "rows", "d"]
    changed = header.replace(
        "int64_t stride, float *dst", "int64_t stride, int32_t flag, float *dst"
    )
    with pytest.raises(kernels.KernelBuildError, match=r"another kernels\.h"):
        kernels.load_library(lib.path, header=changed)


def test_bad_kernel_mode_is_named(monkeypatch):
    monkeypatch.setenv("SYMACT_KERNELS", "fast")
    with pytest.raises(ValueError, match="SYMACT_KERNELS must be"):
        kernels.load()


def test_non_finite_values_are_flagged_by_the_kernels():
    """The fused step's NaN checks run in C: the gradient scan must flag NaN and inf but not
    large finite values (a plain sum would overflow to inf), and the output layers must say
    when a loss is not finite."""
    lib = kernels.load()
    g = torch.full((1000,), 3e38)
    assert lib.symact_all_finite(g.numel(), g.data_ptr()) == 1
    for bad in (float("nan"), float("inf"), -float("inf")):
        g[517] = bad
        assert lib.symact_all_finite(g.numel(), g.data_ptr()) == 0
        g[517] = 1.0
    k, b, w = 2, 64, 8
    h, wt = torch.randn(k, b, w), torch.randn(k, w)
    y = (torch.rand(k, b) > 0.5).float()
    loss = torch.empty(k, dtype=torch.float64)
    args = lib.symact_binary_output.bind(
        B=b,
        W=w,
        h=h,
        w=wt,
        bias=torch.zeros(k),
        y=y,
        dh=torch.empty(k, b, w),
        gw=torch.empty(k, w),
        gbias=torch.empty(k),
        loss=loss,
    )
    assert lib.symact_binary_output(0, k, *args) == 0 and torch.isfinite(loss).all()
    h[1, 5, 3] = float("nan")
    assert lib.symact_binary_output(0, k, *args) == 2
    assert torch.isfinite(loss[0]) and torch.isnan(loss[1])
    logits = torch.randn(k, b, 5)
    classes = torch.randint(0, 5, (k, b)).float()
    args = lib.symact_softmax_loss.bind(
        B=b, C=5, logits=logits, y=classes, dlogits=torch.empty(k, b, 5), loss=loss
    )
    assert lib.symact_softmax_loss(0, k, *args) == 0
    expected = torch.nn.functional.cross_entropy(logits[0], classes[0].long()).item()
    assert loss[0].item() == pytest.approx(expected, rel=1e-5)
    logits[0, 3, 2] = float("inf")
    assert lib.symact_softmax_loss(0, k, *args) == 2
