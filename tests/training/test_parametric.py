"""The reviewers' parametric baselines against their PyTorch twins, on both training paths.

* ``prelu``: ``nn.PReLU()`` (one slope per layer, 0.25 at the start), trained with
  ``torch.optim`` on the stack's batches and dropout masks.
* ``param:<activation>`` (RealMLP's ``x + a * (f(x) - x)``, one ``a`` per unit): the stacked
  model equals ``to_module()`` (a ``ParametricActivation`` per stage) trained with
  ``torch.optim``; MLP and residual MLP, binary and ten classes, with learnable constants.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn
from training_helpers import assert_same_model, protocol_split, reference_train

from symact.formula.activation import ParametricActivation, SymbolicActivation
from symact.models import ModelSpec
from symact.training import StackedModel, TrainConfig, TrainTask, train_stack


@pytest.fixture(params=["fused", "torch"])
def backend(request, monkeypatch):
    """Both training paths: the fused kernels (an error if they cannot build) and torch."""
    monkeypatch.setenv("SYMACT_KERNELS", request.param)
    return request.param


@pytest.fixture(scope="module")
def digits_split():
    """sklearn's bundled digits, all ten classes."""
    X, y = load_digits(return_X_y=True)
    return protocol_split(X.astype(np.float32), y.astype(np.int64), seed=0)


def spam_task(spambase, spec: ModelSpec, seed: int = 42) -> TrainTask:
    X, y = spambase
    return TrainTask(*protocol_split(X[:2000], y[:2000], seed), spec, seed)


def to_torch_prelu(net: nn.Module) -> None:
    """Swap each layer's formula PReLU for ``nn.PReLU()`` holding the same slope."""
    for layer in net.hidden:
        if isinstance(layer.act, SymbolicActivation):
            prelu = nn.PReLU()
            prelu.weight.data.fill_(float(layer.act.c0.detach()))
            layer.act = prelu


def slopes(net: nn.Module) -> list[float]:
    out = []
    for layer in net.hidden:
        if isinstance(layer.act, nn.PReLU):
            out.append(float(layer.act.weight.detach()))
        elif isinstance(layer.act, SymbolicActivation):
            out.append(float(layer.act.c0.detach()))
    return out


def test_prelu_is_torch_prelu_with_its_default_slope():
    """The named activation computes nn.PReLU(), its slope one parameter starting at 0.25."""
    spec = ModelSpec(hidden=(16, 8), activation="PReLU")
    assert spec.activation == "prelu" and spec.learnable_constants and spec.n_constants == 1
    net = spec.to_module(5)
    x = torch.randn(64, 16)
    act = net.hidden[0].act
    torch.testing.assert_close(act(x), nn.PReLU()(x), atol=0, rtol=0)
    assert [n for n, _ in act.named_parameters()] == ["c0"] and float(act.c0.detach()) == 0.25
    # one slope per hidden layer: the parameter count is Light's plus two
    assert spec.param_count(5) == ModelSpec(hidden=(16, 8)).param_count(5) + 2


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_prelu_trains_like_torch_prelu(spambase, backend, dropout):
    """The stack's prelu equals a Network whose layers are nn.PReLU(), trained with
    torch.optim.Adam on the same batches and masks: every weight and both slopes."""
    task = spam_task(spambase, ModelSpec(hidden=(64, 32), activation="prelu", dropout=dropout))
    config = TrainConfig(epochs=2)
    (outcome,) = train_stack([task], config, return_models=True)
    assert outcome.backend == backend and not outcome.failed
    reference = reference_train(task, config, prepare=to_torch_prelu)
    assert all(isinstance(layer.act, nn.PReLU) for layer in reference.hidden)
    learned, theirs = slopes(outcome.model), slopes(reference)
    np.testing.assert_allclose(learned, theirs, atol=1e-4)
    assert all(abs(s - 0.25) > 1e-3 for s in learned)  # the slopes trained
    x_test = torch.as_tensor(task.X_eval)
    with torch.no_grad():
        torch.testing.assert_close(outcome.model(x_test), reference(x_test), atol=1e-5, rtol=0)


def test_parametric_spelling_and_identity():
    """``param:`` names the form; the field at its default leaves a spec's dict as it was."""
    spec = ModelSpec(hidden=(8,), activation=" Param:ReLU ")
    assert spec == ModelSpec(hidden=(8,), activation="relu", parametric=True)
    assert spec.activation == "relu" and spec.activation_text == "param:relu"
    assert spec.to_dict()["parametric"] is True
    assert "parametric" not in ModelSpec(hidden=(8,)).to_dict()
    assert spec.with_activation("gelu").parametric is False
    assert spec.with_activation("param:x*tanh(x)").activation_text == "param:mul(x, tanh(x))"
    # one a per unit of each stage with an activation
    assert spec.param_count(5) == ModelSpec(hidden=(8,)).param_count(5) + 8
    res = ModelSpec(hidden=(8, 4), arch="resnet", blocks=2, activation="param:gelu")
    plain = ModelSpec(hidden=(8, 4), arch="resnet", blocks=2, activation="gelu")
    assert res.param_count(5) == plain.param_count(5) + 4 + 4 + 8  # two blocks and the head
    assert spec.structure() != ModelSpec(hidden=(8,)).structure()  # stacks never mix them


def test_parametric_module_is_the_activation_at_the_start_and_blends():
    f = nn.GELU()
    act = ParametricActivation(f, 6)
    x = torch.randn(10, 6)
    torch.testing.assert_close(act(x), f(x))  # x + 1 * (f(x) - x), to rounding
    with torch.no_grad():
        act.alpha.copy_(torch.linspace(0, 1, 6))
    expected = x + torch.linspace(0, 1, 6) * (f(x) - x)
    torch.testing.assert_close(act(x), expected)
    torch.testing.assert_close(act(x)[:, 0], x[:, 0])  # a = 0: the identity


@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("activation", ["param:relu", "param:gelu", "param:prelu"])
def test_parametric_mlp_matches_plain_pytorch(spambase, backend, activation, dropout):
    """Binary MLP: every weight, every unit's a, predictions, against to_module() + Adam."""
    task = spam_task(spambase, ModelSpec(hidden=(64, 32), activation=activation, dropout=dropout))
    config = TrainConfig(epochs=2)
    (outcome,) = train_stack([task], config, return_models=True)
    assert outcome.backend == backend and not outcome.failed
    reference = reference_train(task, config)
    assert_same_model(outcome.model, reference)
    alpha = outcome.model.hidden[0].act.alpha.detach()
    assert alpha.shape == (64,) and float((alpha - 1).abs().min()) > 0  # every unit trained
    x_test = torch.as_tensor(task.X_eval)
    with torch.no_grad():
        torch.testing.assert_close(outcome.model(x_test), reference(x_test), atol=1e-5, rtol=0)


def test_parametric_resnet_matches_plain_pytorch(spambase, backend):
    """Binary residual MLP with dropout: the form after each block's activation and the
    head's, the skips around them."""
    spec = ModelSpec(hidden=(32, 16), arch="resnet", blocks=2, activation="param:relu")
    task = spam_task(spambase, spec, seed=7)
    config = TrainConfig(epochs=2)
    (outcome,) = train_stack([task], config, return_models=True)
    assert outcome.backend == backend and not outcome.failed
    reference = reference_train(task, config)
    assert_same_model(outcome.model, reference)
    x_test = torch.as_tensor(task.X_eval)
    with torch.no_grad():
        torch.testing.assert_close(outcome.model(x_test), reference(x_test), atol=1e-5, rtol=0)
    assert outcome.auc > 0.7  # 4 Adam steps; chance is 0.5


@pytest.mark.parametrize(
    "spec",
    [
        ModelSpec(
            hidden=(40, 20, 30),
            activation="param:add(mul(x, sig(mul(1.5, x))), 0.1)",
            learnable_constants=True,
            n_outputs=10,
        ),
        ModelSpec(
            hidden=(24, 16),
            arch="resnet",
            blocks=2,
            activation="param:add(mul(x, sig(mul(1.5, x))), 0.1)",
            learnable_constants=True,
            n_outputs=10,
        ),
    ],
    ids=["mlp-learnable", "resnet-learnable"],
)
def test_parametric_multiclass_and_resnet_match_plain_pytorch(digits_split, backend, spec):
    """Ten classes, learnable constants inside the parametric form, residual blocks."""
    config = TrainConfig(epochs=3, batch_size=128)
    task = TrainTask(*digits_split, spec, seed=3)
    (outcome,) = train_stack([task], config, return_models=True)
    assert outcome.backend == backend and not outcome.failed
    reference = reference_train(task, config)
    assert_same_model(outcome.model, reference)
    x_test = torch.as_tensor(task.X_eval)
    with torch.no_grad():
        torch.testing.assert_close(
            outcome.model.predict_proba(x_test), reference.predict_proba(x_test), atol=1e-3, rtol=0
        )
    assert outcome.accuracy > 0.3  # chance is 0.1
    if spec.learnable_constants:
        inner = [layer.act.f for layer in outcome.model.hidden if hasattr(layer.act, "f")]
        # the constants inside the form trained too
        assert inner and all(float(m.c0.detach()) != 1.5 for m in inner)


def test_parametric_and_plain_models_train_side_by_side(spambase, backend):
    """Parametric models stack (each equals itself trained alone); a stack never mixes
    them with plain ones (a grid puts them in stacks of their own)."""
    config = TrainConfig(epochs=1)
    tasks = [
        spam_task(spambase, ModelSpec(hidden=(32, 16), activation=a), seed=s)
        for a in ("relu", "param:relu")
        for s in (1, 2)
    ]
    together = train_stack(tasks[2:], config, return_models=True)
    for task, outcome in zip(tasks[2:], together, strict=True):
        (alone,) = train_stack([task], config, return_models=True)
        assert_same_model(outcome.model, alone.model, atol=1e-6)
    with pytest.raises(ValueError, match="same network structure"):
        train_stack([tasks[0], tasks[2]], config)


@pytest.mark.parametrize(
    "spec",
    [
        ModelSpec(hidden=(16, 8), activation="param:relu"),
        ModelSpec(
            hidden=(16, 8),
            arch="resnet",
            activation="param:add(mul(x, sig(mul(1.5, x))), 0.1)",
            learnable_constants=True,
            n_outputs=3,
        ),
    ],
    ids=["mlp-relu", "resnet-learnable"],
)
def test_stacked_evaluation_applies_the_form(spec):
    """Scores come from the stack's eval-mode forward: it equals the module, for a's far
    from 1 (the training tests move them only a little)."""
    stack = StackedModel([spec] * 2, 5, [1, 2], TrainConfig())
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(20, 5, generator=gen)
    at_one = stack.stacked_logits(x.expand(2, -1, -1)).clone()
    for block in stack.structure.blocks:
        if block.name.startswith("a"):
            stack.state.p[block.name].uniform_(-1.0, 2.0, generator=gen)
    together = stack.stacked_logits(x.expand(2, -1, -1))
    assert not torch.allclose(together, at_one)  # the a's matter
    for k in range(2):
        net = spec.to_module(5)
        state = net.state_dict()
        state.update(stack.state_dict(k))
        net.load_state_dict(state)
        net.eval()
        with torch.no_grad():
            expected = net(x)
        torch.testing.assert_close(stack.predict_logits(k, x), expected)
        torch.testing.assert_close(together[k], expected)
