"""The fused C kernels: same training as the torch path, their build, and the fallback."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from test_stack import assert_same_model, spam_slice
from torch import nn
from training_helpers import XCos

from symact.formula import make_activation
from symact.models import HEAVY, LIGHT
from symact.training import StackedMLP, TrainConfig, TrainTask, kernels, train_stack

ACTIVATIONS = [
    nn.ReLU(),
    nn.GELU(),
    nn.GELU(approximate="tanh"),
    nn.SiLU(),
    nn.Tanh(),
    nn.Sigmoid(),
    make_activation("mul(cos(x), x)"),
    make_activation("sub(cos(x), cos(cos(x)))"),
    make_activation("add(mul(x, add(x, x)), x)"),
    make_activation("div(x, add(abs(x), 1.0))"),
]


@pytest.fixture
def fused(monkeypatch):
    """Kernels must build here (a failure is an error, not a silent fallback)."""
    monkeypatch.setenv("SYMACT_KERNELS", "fused")


def _train(tasks, config, monkeypatch, backend: str, threads: int | None = None):
    monkeypatch.setenv("SYMACT_KERNELS", backend)
    return train_stack(tasks, config, return_models=True, threads=threads)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_fused_trains_the_same_models_as_the_torch_path(spambase, monkeypatch, dropout):
    """Ten activations in one stack, fused kernels vs torch ops: equal to float32 rounding.

    The dropout masks come from the same SplitMix64 streams on both paths; a single
    different bit would move a weight by far more than the tolerance. Seeds start at 1:
    with seed 0 a ReLU unit of this slice sits at its kink, and Adam, which divides by the
    gradient's size, turns the two paths' different rounding of a near-zero gradient into
    full steps (1.5e-3 apart after 2 epochs; there the fused path is the one within 1e-4 of
    plain PyTorch, and test_stack checks that comparison for the default seeds).
    """
    config = TrainConfig(epochs=2, dropout=dropout)
    split = spam_slice(spambase, 42)
    tasks = [TrainTask(*split, LIGHT.widths, act, seed=i + 1) for i, act in enumerate(ACTIVATIONS)]
    fused_out = _train(tasks, config, monkeypatch, "fused")
    torch_out = _train(tasks, config, monkeypatch, "torch")
    for a, b in zip(fused_out, torch_out, strict=True):
        assert (a.backend, b.backend) == ("fused", "torch")
        assert_same_model(a.model, b.model, atol=1e-4)
        assert abs(a.auc - b.auc) < 1e-3
        np.testing.assert_allclose(a.loss_history, b.loss_history, rtol=1e-4)


def test_fused_heavy_and_a_partial_last_batch(spambase, monkeypatch):
    """Wide layers (200, 100) and 1,500 training rows: a last batch of 476 rows."""
    config = TrainConfig(epochs=2, batch_size=1024)
    X, y = spambase
    split = spam_slice((X[:1875], y[:1875]), 42)
    tasks = [TrainTask(*split, HEAVY.widths, nn.ReLU(), seed=s) for s in (1, 2)]
    fused_out = _train(tasks, config, monkeypatch, "fused")
    torch_out = _train(tasks, config, monkeypatch, "torch")
    for a, b in zip(fused_out, torch_out, strict=True):
        assert_same_model(a.model, b.model, atol=1e-4)


def test_fused_task_in_a_stack_equals_the_task_alone(spambase, fused):
    config = TrainConfig(epochs=2)
    split42, split43 = spam_slice(spambase, 42), spam_slice(spambase, 43)
    tasks = [
        TrainTask(*split42, LIGHT.widths, nn.ReLU(), seed=42),
        TrainTask(*split43, LIGHT.widths, make_activation("mul(cos(x), x)"), seed=43),
        TrainTask(*split42, LIGHT.widths, nn.SiLU(), seed=44),
    ]
    stacked = train_stack(tasks, config, return_models=True)
    for j, task in enumerate(tasks):
        (alone,) = train_stack([task], config, return_models=True)
        assert_same_model(stacked[j].model, alone.model, atol=1e-5)
        assert abs(stacked[j].auc - alone.auc) < 1e-4


def test_fused_split_over_threads_equals_one_thread(spambase, monkeypatch):
    config = TrainConfig(epochs=1)
    split = spam_slice(spambase, 42)
    tasks = [TrainTask(*split, LIGHT.widths, act, seed=i) for i, act in enumerate(ACTIVATIONS)]
    one = _train(tasks, config, monkeypatch, "fused", threads=1)
    two = _train(tasks, config, monkeypatch, "fused", threads=2)
    for a, b in zip(one, two, strict=True):
        assert_same_model(a.model, b.model, atol=1e-6)


def test_a_module_without_c_form_runs_the_torch_path(spam_split, monkeypatch):
    monkeypatch.setenv("SYMACT_KERNELS", "auto")
    config = TrainConfig(epochs=1)
    cpu = torch.device("cpu")
    assert StackedMLP(57, (8,), [nn.ReLU()], [1], config, cpu).backend == "fused"
    assert StackedMLP(57, (8,), [nn.ReLU(), XCos()], [1, 2], config, cpu).backend == "torch"
    assert kernels.activation_body(XCos()) is None
    assert kernels.activation_body(make_activation("x", learnable_constants=True)) is None


def test_no_compiler_falls_back_with_one_warning(spam_split, monkeypatch, tmp_path):
    monkeypatch.setenv("SYMACT_KERNELS", "auto")
    monkeypatch.setenv("SYMACT_CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("SYMACT_KERNEL_DIR", str(tmp_path / "kernels"))
    act = make_activation("add(x, mul(0.125, sin(x)))")
    with pytest.warns(RuntimeWarning, match="torch path.*no-such-cc"):
        assert kernels.load(act) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reported once, not once per stack
        (outcome,) = train_stack(
            [TrainTask(*spam_split, LIGHT.widths, act, seed=1)], TrainConfig(epochs=1)
        )
    assert outcome.backend == "torch" and not outcome.failed and outcome.auc > 0.8
    monkeypatch.setenv("SYMACT_KERNELS", "fused")
    with pytest.raises(kernels.KernelBuildError, match="no-such-cc"):
        kernels.load(act)


def test_kernel_library_is_built_once_into_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SYMACT_KERNELS", "fused")
    monkeypatch.setenv("SYMACT_KERNEL_DIR", str(tmp_path))
    act = make_activation("sub(x, mul(0.0625, cos(x)))")
    built = kernels.load(act)
    assert built.path.parent == tmp_path and built.path.exists()
    assert kernels.load(make_activation("sub(x, mul(0.0625, cos(x)))")) is built
    y = torch.linspace(-4, 4, 101)
    value, deriv = built.evaluate(y)
    torch.testing.assert_close(value, y - 0.0625 * torch.cos(y))
    torch.testing.assert_close(deriv, 1 + 0.0625 * torch.sin(y))


def test_bad_kernel_mode_is_named(monkeypatch):
    monkeypatch.setenv("SYMACT_KERNELS", "fast")
    with pytest.raises(ValueError, match="SYMACT_KERNELS must be"):
        kernels.load(nn.ReLU())


def test_non_finite_values_are_flagged_by_the_kernels():
    """The fused step's NaN checks run in C: the gradient scan must flag NaN and inf but not
    large finite values (a plain sum would overflow to inf), and the output layer must say
    when a loss is not finite."""
    common = kernels.load(nn.ReLU()).common
    g = torch.full((1000,), 3e38)
    assert common.symact_all_finite(g.numel(), g.data_ptr()) == 1
    for bad in (float("nan"), float("inf"), -float("inf")):
        g[517] = bad
        assert common.symact_all_finite(g.numel(), g.data_ptr()) == 0
        g[517] = 1.0
    k, b, w = 2, 64, 8
    h, wt = torch.randn(k, b, w), torch.randn(k, w)
    bias, y = torch.zeros(k), (torch.rand(k, b) > 0.5).float()
    dh, gw, gb = torch.empty(k, b, w), torch.empty(k, w), torch.empty(k)
    loss = torch.empty(k, dtype=torch.float64)

    def output() -> int:
        args = (h, wt, bias, y, dh, gw, gb, loss)
        return common.symact_output(0, k, b, w, *(t.data_ptr() for t in args))

    assert output() == 0 and torch.isfinite(loss).all()
    h[1, 5, 3] = float("nan")
    assert output() == 2 and torch.isfinite(loss[0]) and torch.isnan(loss[1])
