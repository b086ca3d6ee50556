"""The training state is one value: copied and put back, either step continues from it.

``StackedModel`` holds a :class:`TrainState` (parameters, gradients, BatchNorm statistics,
optimizer state, generators and dropout counters) and one step implementation; these tests
step states directly through both implementations, ``TorchStep`` and ``FusedStep``."""

from __future__ import annotations

import ast
import inspect
import re

import pytest
import torch
from training_helpers import protocol_split

from symact.models import ModelSpec
from symact.training import StackedModel, TrainConfig, fused, trainer
from symact.training.stack import TorchStep

# a plain MLP and a residual one; several activations, one with learnable constants
SPECS = {
    "mlp": ModelSpec(hidden=(32, 16), dropout=0.3),
    "resnet": ModelSpec(hidden=(32, 16), arch="resnet", blocks=2, dropout=0.2),
}
ACTIVATIONS = ("relu", "gelu", "x*tanh(x)")


def _stack(spec: ModelSpec, n_features: int) -> StackedModel:
    specs = [spec.with_activation(a) for a in ACTIVATIONS]
    specs.append(spec.with_activation("0.5*x + sin(1.5*x)", learnable_constants=True))
    return StackedModel(specs, n_features, [3, 4, 5, 6], TrainConfig(lr=3e-3))


def _batches(spambase, k: int, n: int = 3, rows: int = 200):
    X, y, _, _ = protocol_split(*spambase, seed=42)
    gen = torch.Generator().manual_seed(0)
    out = []
    for _ in range(n):
        idx = torch.randint(0, len(y), (k, rows), generator=gen)
        xb = torch.as_tensor(X)[idx]
        yb = torch.as_tensor(y, dtype=torch.float32)[idx].unsqueeze(2)
        out.append((xb, yb))
    return out


def _train(model: StackedModel, step, state, batches) -> list[torch.Tensor]:
    """Steps of ``step`` on ``state`` (``model``'s structure), with the optimizer."""
    losses = []
    for x, y in batches:
        losses.append(step.step(state, x, y).clone())
        state.steps += 1
        state.optimizer.step(state.grad)
    return losses


def _values(state) -> list:
    return [
        state.flat,
        state.grad,
        *state.running_stats(),
        *state.optimizer.state.values(),
        state.dropout_keys,
        state.dropout_drawn,
        state.steps,
        state.optimizer.steps,
        [
            torch.randperm(50, generator=torch.Generator().set_state(g.get_state()))
            for g in state.generators
        ],
    ]


def _assert_equal(a, b) -> None:
    for x, y in zip(_values(a), _values(b), strict=True):
        if isinstance(x, list):
            for u, v in zip(x, y, strict=True):
                assert torch.equal(u, v)
        elif isinstance(x, torch.Tensor):
            assert torch.equal(x, y)
        else:
            assert x == y


@pytest.mark.parametrize("arch", sorted(SPECS))
@pytest.mark.parametrize("path", ["fused", "torch"])
def test_a_snapshot_put_back_replays_the_same_steps(spambase, arch, path, monkeypatch):
    """Snapshot, train on, restore, train again: bit for bit the same steps and state; the
    snapshot itself is untouched by the training after it."""
    monkeypatch.setenv("SYMACT_KERNELS", path)
    model = _stack(SPECS[arch], spambase[0].shape[1])
    assert model.backend == path
    first, later = _batches(spambase, model.k, 2), _batches(spambase, model.k, 3)[1:]
    _train(model, model.path, model.state, first)
    saved = model.state.snapshot()
    kept = saved.snapshot()
    flat_before = model.state.flat.data_ptr()
    losses = _train(model, model.path, model.state, later)
    after = model.state.snapshot()
    _assert_equal(saved, kept)  # training the state left its copy alone
    assert not torch.equal(after.flat, saved.flat)
    model.state.restore(saved)
    assert model.state.flat.data_ptr() == flat_before  # in place: the kernels' pointers hold
    _assert_equal(model.state, saved)
    again = _train(model, model.path, model.state, later)
    for a, b in zip(losses, again, strict=True):
        assert torch.equal(a, b)
    _assert_equal(model.state, after)


@pytest.mark.parametrize("arch", sorted(SPECS))
def test_the_two_steps_agree_from_one_state(spambase, arch, monkeypatch):
    """One state, copied: a fused step on one copy, a torch step on the other, then the
    other way round; losses, gradients, statistics and counters agree to float32 rounding."""
    monkeypatch.setenv("SYMACT_KERNELS", "fused")
    model = _stack(SPECS[arch], spambase[0].shape[1])
    fused_step, torch_step = model.path, TorchStep(model.structure)
    assert (fused_step.name, torch_step.name) == ("fused", "torch")
    (warm, *batches) = _batches(spambase, model.k, 3)
    _train(model, fused_step, model.state, [warm])
    on_torch = model.state.snapshot()
    for x, y in batches:  # each step from the state both reached
        a = fused_step.step(model.state, x, y)
        b = torch_step.step(on_torch, x, y)
        torch.testing.assert_close(a.float(), b.float(), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(model.state.grad, on_torch.grad, rtol=1e-3, atol=1e-5)
        for s, t in zip(model.state.running_stats(), on_torch.running_stats(), strict=True):
            torch.testing.assert_close(s, t, rtol=1e-5, atol=1e-6)
        assert model.state.dropout_drawn == on_torch.dropout_drawn > 0
        on_torch.restore(model.state)  # continue both from the fused path's state
        fused_step, torch_step = torch_step, fused_step
        model.state, on_torch = on_torch, model.state


def test_the_paths_do_not_import_each_other():
    """``fused.py`` knows the state and the structure, not ``stack.py``; the trainer asks the
    stack, never which path it has."""
    imported = {
        node.module
        for node in ast.walk(ast.parse(inspect.getsource(fused)))
        if isinstance(node, ast.ImportFrom)
    }
    assert "symact.training.stack" not in imported
    assert not re.search(r"\.(fused|path)\b|FusedStep|TorchStep", inspect.getsource(trainer))


@pytest.mark.parametrize("arch", sorted(SPECS))
def test_both_paths_validate_alike(spambase, arch, monkeypatch):
    """Early stopping's eval-mode forward: the fused path's (the forward kernel computes the
    activations, values only) equals the torch path's to float32 rounding."""
    monkeypatch.setenv("SYMACT_KERNELS", "fused")
    model = _stack(SPECS[arch], spambase[0].shape[1])
    _train(model, model.path, model.state, _batches(spambase, model.k, 3))
    (x, y), *_ = _batches(spambase, model.k, 1, rows=300)
    fused_losses = model.validation_losses(x, y)
    fused_logits = model.stacked_logits(x).clone()
    model.path = TorchStep(model.structure)
    torch.testing.assert_close(model.validation_losses(x, y), fused_losses, rtol=1e-5, atol=0)
    torch.testing.assert_close(model.stacked_logits(x), fused_logits, rtol=1e-4, atol=1e-5)
    assert not torch.equal(fused_losses, torch.zeros_like(fused_losses))
