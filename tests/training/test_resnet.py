"""The residual MLP (``ModelSpec(arch="resnet")``) on both training paths: the stacked model
equals its ``nn.Module`` twin trained with ``torch.optim`` on the same batches and dropout
masks, and the fused path equals the torch path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from training_helpers import assert_same_model, protocol_split, reference_train

from symact.formula import parse_formula
from symact.models import ModelSpec
from symact.training import TrainConfig, TrainTask, train_stack

RESNET = ModelSpec(hidden=(32, 16), arch="resnet", blocks=2)


@pytest.fixture(params=["fused", "torch"])
def backend(request, monkeypatch):
    """Both training paths: the fused kernels (an error if they cannot build) and torch."""
    monkeypatch.setenv("SYMACT_KERNELS", request.param)
    return request.param


@pytest.fixture(scope="module")
def digits_split():
    X, y = load_digits(return_X_y=True)
    return protocol_split(X.astype(np.float32), y.astype(np.int64), seed=0)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_resnet_matches_plain_pytorch_training(spambase, activation, backend):
    """Projection, two residual blocks with dropout, head: the hand-written step (skips
    included) equals to_module() + torch.optim.Adam on the same batches and masks."""
    X, y = spambase
    split = protocol_split(X[:2000], y[:2000], 42)
    task = TrainTask(*split, RESNET.with_activation(activation), seed=7)
    config = TrainConfig(epochs=2)
    (outcome,) = train_stack([task], config, return_models=True)
    assert outcome.backend == backend and not outcome.failed
    reference = reference_train(task, config)
    assert_same_model(outcome.model, reference)
    x_test = torch.as_tensor(task.X_eval)
    with torch.no_grad():
        torch.testing.assert_close(outcome.model(x_test), reference(x_test), atol=1e-5, rtol=0)
    assert outcome.auc > 0.7  # 4 Adam steps (2 epochs of 2 batches); chance is 0.5


def test_resnet_multiclass_learnable_constants_match_plain_pytorch(digits_split, backend):
    """Ten classes, softmax cross-entropy, learnable constants per activation stage."""
    spec = ModelSpec(
        hidden=(24, 16),
        arch="resnet",
        blocks=2,
        activation="add(mul(x, sig(mul(1.5, x))), 0.1)",
        learnable_constants=True,
        n_outputs=10,
    )
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
    learned = outcome.learned_formulas
    assert len(learned) == 3 and len(set(learned)) == 3  # two blocks and the head, each trained
    acts = [layer.act for layer in reference.hidden if hasattr(layer.act, "learned_formula")]
    for text, act in zip(learned, acts, strict=True):
        np.testing.assert_allclose(
            parse_formula(text).constants, act.learned_formula().constants, atol=1e-5
        )
    assert outcome.accuracy > 0.3


def test_fused_resnet_trains_the_same_models_as_the_torch_path(spambase, monkeypatch):
    """Six activations in one residual stack, fused vs torch: equal to float32 rounding."""
    X, y = spambase
    split = protocol_split(X[:2000], y[:2000], 42)
    formulas = ["relu", "gelu", "mul(x, cos(x))", "silu", "tanh", "max(mul(0.5, x), mul(0.1, x))"]
    tasks = [
        TrainTask(*split, RESNET.with_activation(f), seed=i + 1) for i, f in enumerate(formulas)
    ]
    config = TrainConfig(epochs=2)
    outs = {}
    for path in ("fused", "torch"):
        monkeypatch.setenv("SYMACT_KERNELS", path)
        outs[path] = train_stack(tasks, config, return_models=True)
    for a, b in zip(outs["fused"], outs["torch"], strict=True):
        assert (a.backend, b.backend) == ("fused", "torch")
        assert_same_model(a.model, b.model, atol=1e-4)
        np.testing.assert_allclose(a.loss_history, b.loss_history, rtol=1e-4)


def test_a_suite_of_residual_models_runs_through_the_python_api(tmp_path):
    """``make_suite(light=ModelSpec(arch="resnet"))``: every run trains and stores the
    residual network (its spec, with arch and blocks, is part of each run's key)."""
    from symact.discovery import GplearnSettings
    from symact.experiments import DataCache, ResultsStore, make_suite, run_suite

    light = ModelSpec(hidden=(16, 8), arch="resnet", blocks=1)
    suite = make_suite("builtin", datasets=("breast_cancer",), seeds=(1,), heavy=None,
                       activations=("relu", "gelu"), train=TrainConfig(epochs=2), light=light,
                       discovery=GplearnSettings(population_size=80, generations=2))  # fmt: skip
    with ResultsStore(tmp_path / "symact.sqlite") as store:
        outcome = run_suite(suite, store, DataCache())
    assert len(outcome.entries) >= 2
    for entry in outcome.entries:
        assert (entry.spec.model.arch, entry.spec.model.blocks) == ("resnet", 1)
        assert entry.spec.model.hidden == (16, 8)
