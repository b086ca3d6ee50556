"""The stacked step against plain PyTorch (``to_module()`` + ``torch.optim``), and stack
independence, on real data: binary spambase, 10-class digits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn
from training_helpers import Explode, XCos, assert_same_model, protocol_split, reference_train

from symact.formula import parse_formula
from symact.models import LIGHT, ModelSpec
from symact.training import StackedModel, TrainConfig, TrainTask, train_stack
from symact.training.ops import splitmix64
from symact.training.stack import TorchStep

BACKENDS = ["fused", "torch"]


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    """Both training paths: the fused kernels (an error if they cannot build) and torch."""
    monkeypatch.setenv("SYMACT_KERNELS", request.param)
    return request.param


def spam_slice(spambase, seed: int, rows: int = 2000):
    X, y = spambase
    return protocol_split(X[:rows], y[:rows], seed)


@pytest.fixture(scope="module")
def digits_split():
    """sklearn's bundled digits, all ten classes: 1,437 training rows, 360 test rows."""
    X, y = load_digits(return_X_y=True)
    return protocol_split(X.astype(np.float32), y.astype(np.int64), seed=0)


def test_splitmix64_is_the_published_generator():
    """Our vectorized SplitMix64 equals a plain-Python transcription of Steele et al.'s."""
    mask = 2**64 - 1

    def reference(seed: int, n: int) -> list[int]:
        state, out = seed & mask, []
        for _ in range(n):
            state = (state + 0x9E3779B97F4A7C15) & mask
            z = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & mask
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
            out.append(z ^ (z >> 31))
        return out

    keys = torch.tensor([[1234567], [-(2**63)], [-5]])
    got = splitmix64(keys, 5, 7)
    for k in range(3):
        assert [int(v) & mask for v in got[k]] == reference(int(keys[k, 0]), 12)[5:]
    assert reference(1234567, 1)[0] == 0x599ED017FB08FC85


def test_dropout_masks_keep_the_right_share_independently_of_the_stack():
    config, spec = TrainConfig(), ModelSpec(hidden=(64, 32), dropout=0.3)
    pair = StackedModel([spec] * 2, 10, [3, 4], config)
    alone = StackedModel([spec], 10, [4], config)
    for _ in range(2):  # two steps: the stream advances the same way in both stacks
        masks_pair = TorchStep(pair.structure).draw_keep_masks(pair.state, 1024)
        masks_alone = TorchStep(alone.structure).draw_keep_masks(alone.state, 1024)
        for mp, ma in zip(masks_pair, masks_alone, strict=True):
            assert torch.equal(mp[1], ma[0])
            assert not torch.equal(mp[0], mp[1])
            assert torch.unique(mp).tolist() == pytest.approx([0.0, 1 / 0.7])
    kept = torch.cat([(m > 0).flatten() for m in masks_pair]).float().mean().item()
    assert abs(kept - 0.7) < 0.005  # 196,608 units: 4.5 standard deviations


@pytest.mark.parametrize(
    "spec",
    [LIGHT, ModelSpec(hidden=(48, 24, 12), n_outputs=10), ModelSpec(hidden=(8,), norm="none")],
    ids=["light", "three-layers-10-classes", "no-norm"],
)
def test_init_equals_to_module_under_manual_seed(spec):
    """Our per-model init draws PyTorch's default init numbers from the model's own seed."""
    stack = StackedModel([spec] * 2, 57, [7, 8], TrainConfig())
    for k, seed in enumerate((7, 8)):
        torch.manual_seed(seed)
        ref = spec.to_module(57)
        for name, tensor in ref.state_dict().items():
            torch.testing.assert_close(stack.state_dict(k)[name], tensor, atol=0, rtol=0)


def test_init_independent_of_stack_position():
    config = TrainConfig()
    alone = StackedModel([LIGHT], 28, [43], config).state_dict(0)
    mixed = StackedModel([LIGHT.with_activation("gelu"), LIGHT], 28, [42, 43], config)
    for name, tensor in alone.items():
        assert torch.equal(mixed.state_dict(1)[name], tensor), name


@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize(
    ("activation", "path"),
    [("relu", "fused"), ("relu", "torch"), ("gelu", "fused"), ("gelu", "torch"), (XCos(), "torch")],
    ids=["relu-fused", "relu-torch", "gelu-fused", "gelu-torch", "xcos-module-torch"],
)
def test_stack_matches_plain_pytorch_training(spambase, activation, path, dropout, monkeypatch):
    """The hand-written BN / dropout / loss / Adam math equals to_module() + torch.optim.Adam
    (a hand-written module is not a formula: it trains on the torch path only)."""
    monkeypatch.setenv("SYMACT_KERNELS", path)
    backend = path
    spec = ModelSpec(hidden=(64, 32), dropout=dropout)
    config = TrainConfig(epochs=2)
    module = activation if isinstance(activation, nn.Module) else None
    name = activation if module is None else "relu"
    task = TrainTask(*spam_slice(spambase, 42), spec.with_activation(name), 42, activation=module)
    (outcome,) = train_stack([task], config, return_models=True)
    assert outcome.backend == backend
    reference = reference_train(task, config)
    noisy = reference_train(task, config, exact_zero=False)
    assert_same_model(outcome.model, reference)
    x_test = torch.as_tensor(task.X_eval)
    with torch.no_grad():
        torch.testing.assert_close(outcome.model(x_test), reference(x_test), atol=1e-5, rtol=0)
        # PyTorch's noise-driven walk of the pre-BN biases moves predictions only a little
        assert (outcome.model(x_test) - noisy(x_test)).abs().max() < 5e-3


@pytest.mark.parametrize(
    ("spec", "config"),
    [
        (ModelSpec(hidden=(48, 24, 12), n_outputs=10, activation="silu"), TrainConfig(epochs=2)),
        (
            ModelSpec(
                hidden=(40, 20, 30),
                activation="add(mul(x, sig(mul(1.5, x))), 0.1)",
                learnable_constants=True,
                n_outputs=10,
            ),
            TrainConfig(epochs=2),
        ),
        (
            ModelSpec(hidden=(32,), norm="none", activation="tanh", n_outputs=10),
            TrainConfig(epochs=2, optimizer="adamw", weight_decay=0.05),
        ),
    ],
    ids=["10-classes-three-layers", "learnable-constants", "no-norm-adamw"],
)
def test_multiclass_and_other_shapes_match_plain_pytorch(digits_split, spec, config, backend):
    """10-class digits: softmax cross-entropy, three hidden layers of different widths,
    learnable constants (per layer, trained with the weights), no BatchNorm, AdamW."""
    config = TrainConfig(**{**config.__dict__, "epochs": 3, "batch_size": 128})  # 36 steps
    task = TrainTask(*digits_split, spec, seed=3)
    (outcome,) = train_stack([task], config, return_models=True)
    assert outcome.backend == backend and not outcome.failed
    reference = reference_train(task, config)
    assert_same_model(outcome.model, reference)
    x_test = torch.as_tensor(task.X_eval)
    with torch.no_grad():
        # probabilities: some standardized test pixels are far outside the training range,
        # where logits amplify the weights' 1e-5 rounding differences
        torch.testing.assert_close(
            outcome.model.predict_proba(x_test), reference.predict_proba(x_test), atol=1e-3, rtol=0
        )
    assert outcome.accuracy > 0.3  # ten classes: chance is 0.1 (36 Adam steps at 1e-3)
    if spec.learnable_constants:
        learned = outcome.learned_formulas
        assert len(learned) == 3 and len(set(learned)) == 3  # one formula per layer, trained
        for i, text in enumerate(learned):
            assert text == str(outcome.model.hidden[i].act.learned_formula())
            ours = parse_formula(text).constants
            theirs = reference.hidden[i].act.learned_formula().constants
            np.testing.assert_allclose(ours, theirs, atol=1e-5)
            assert ours != parse_formula(spec.activation).constants  # they trained


def test_task_in_stack_equals_task_alone(spambase, backend):
    """Neighbours with other seeds, data and activations do not change a model's training."""
    config = TrainConfig(epochs=2)
    split42, split43 = spam_slice(spambase, 42), spam_slice(spambase, 43)
    tasks = [
        TrainTask(*split42, LIGHT, seed=42),
        TrainTask(*split43, LIGHT.with_activation("gelu"), seed=43),
        TrainTask(*split43, LIGHT.with_activation("mul(x, cos(x))"), seed=43),
        TrainTask(*split42, LIGHT.with_activation("silu"), seed=44),
        TrainTask(*split42, LIGHT.with_activation("mul(x, cos(x))"), seed=45),
        TrainTask(
            *split42,
            LIGHT.with_activation("add(x, mul(0.5, sin(x)))", learnable_constants=True),
            46,
        ),
    ]
    stacked = train_stack(tasks, config, return_models=True)
    for j in range(len(tasks)):
        (alone,) = train_stack([tasks[j]], config, return_models=True)
        assert_same_model(stacked[j].model, alone.model, atol=1e-5)
        assert abs(stacked[j].auc - alone.auc) < 1e-4
        assert abs(stacked[j].accuracy - alone.accuracy) <= 1 / len(tasks[j].y_eval)
        np.testing.assert_allclose(stacked[j].loss_history, alone.loss_history, rtol=1e-5)


def test_exploding_model_fails_alone_and_others_go_on(spambase, monkeypatch):
    monkeypatch.setenv("SYMACT_KERNELS", "torch")  # Explode is a module, not a formula
    config = TrainConfig(epochs=2)
    split = spam_slice(spambase, 42)
    good = [TrainTask(*split, LIGHT, s, activation=a) for a, s in ((nn.ReLU(), 1), (XCos(), 2))]
    bad = TrainTask(*split, LIGHT, seed=3, label="explode", activation=Explode())
    with_bad = train_stack([good[0], bad, good[1]], config, return_models=True)
    without = train_stack(good, config, return_models=True)
    failed = with_bad[1]
    assert failed.failed and failed.label == "explode"
    assert "at epoch 1 step 1" in failed.failure_reason
    assert failed.failure_reason.startswith(("loss became", "gradient became"))
    assert np.isnan(failed.auc) and np.isnan(failed.accuracy) and failed.epochs_run == 1
    for a, b in zip((with_bad[0], with_bad[2]), without, strict=True):
        assert not a.failed and a.failure_reason is None
        assert_same_model(a.model, b.model, atol=1e-5)
        assert abs(a.auc - b.auc) < 1e-4


def test_an_exploding_formula_fails_alone_on_the_fused_path(spambase, backend):
    config = TrainConfig(epochs=2)
    split = spam_slice(spambase, 42)
    tasks = [
        TrainTask(*split, LIGHT, seed=1),
        # exp is clamped at e^80, but e^80 * e^80 overflows float32
        TrainTask(*split, LIGHT.with_activation("mul(exp(mul(x, 100.0)), exp(mul(x, 100.0)))"), 3),
    ]
    good, bad = train_stack(tasks, config)
    (alone,) = train_stack(tasks[:1], config)
    assert bad.failed and "epoch 1 step 1" in bad.failure_reason and not good.failed
    assert abs(good.auc - alone.auc) < 1e-6


def test_activation_with_hidden_trainable_parameters_is_refused(spam_split):
    task = TrainTask(*spam_split, LIGHT, seed=1, activation=nn.PReLU())
    with pytest.raises(ValueError, match="trainable parameters"):
        train_stack([task], TrainConfig(epochs=1))


def test_formula_activation_trains_like_the_same_hand_written_module(spambase, monkeypatch):
    """A formula's compiled torch function (make_activation's x*cos(x)) and a hand-written
    x*cos(x) module train the same model on the torch path; the fused path's program is
    compared with the torch path in test_kernels."""
    monkeypatch.setenv("SYMACT_KERNELS", "torch")
    config = TrainConfig(epochs=2)
    split = spam_slice(spambase, 42)
    formula = TrainTask(*split, LIGHT.with_activation("mul(x, cos(x))"), 5)
    module = TrainTask(*split, LIGHT, 5, activation=XCos())
    (a,), (b,) = (train_stack([t], config, return_models=True) for t in (formula, module))
    assert_same_model(a.model, b.model, atol=1e-6)
    assert abs(a.auc - b.auc) < 1e-6


def test_constant_activation_trains_without_gradient_below_it(spambase, backend):
    """An activation whose output ignores its input (a constant formula) has derivative 0:
    its stack neighbours train as usual, and the layers below it keep their initial weights."""
    config = TrainConfig(epochs=1)
    split = spam_slice(spambase, 42)
    tasks = [
        TrainTask(*split, LIGHT.with_activation("0.5"), seed=1),
        TrainTask(*split, LIGHT.with_activation("mul(x, cos(x))"), seed=2),
    ]
    stacked = train_stack(tasks, config, return_models=True)
    (alone,) = train_stack([tasks[1]], config, return_models=True)
    assert_same_model(stacked[1].model, alone.model, atol=1e-5)
    initial = StackedModel([LIGHT], split[0].shape[1], [1], config)
    assert not stacked[0].failed
    torch.testing.assert_close(
        stacked[0].model.hidden[0].linear.weight, initial.state_dict(0)["hidden.0.linear.weight"]
    )


def test_a_stack_of_32_different_formulas_equals_each_trained_alone(spambase, backend):
    """Any number of distinct formulas in one stack, each with its own program."""
    from symact.formula import parse_formula
    from symact.formula.tree import Formula

    rng = np.random.default_rng(7)
    # well-conditioned operators: with 1/x, rounding differences between a 32-model bmm and
    # a single matmul grow to the size of the training signal (chaotic, not wrong)
    unary = ["sin", "cos", "tanh", "sig", "relu", "abs", "erf", "softplus", "gelu", "silu"]
    binary = ["add", "sub", "mul", "max", "min"]

    def draw(depth: int) -> Formula:
        if depth == 0 or rng.random() < 0.25:
            return Formula.var() if rng.random() < 0.7 else Formula.const(round(rng.normal(), 2))
        if rng.random() < 0.5:
            return Formula.call(str(rng.choice(unary)), draw(depth - 1))
        return Formula.call(str(rng.choice(binary)), draw(depth - 1), draw(depth - 1))

    formulas: list[str] = []
    while len(formulas) < 32:
        f = draw(3)
        if "x" in f.variables and not f.is_degenerate() and str(f) not in formulas:
            formulas.append(str(parse_formula(str(f))))
    split = spam_slice(spambase, 42)
    config = TrainConfig(epochs=1, batch_size=256)
    tasks = [TrainTask(*split, LIGHT.with_activation(f), seed=9) for f in formulas]
    together = train_stack(tasks, config)
    for task, a in zip(tasks, together, strict=True):
        (b,) = train_stack([task], config)
        assert a.failed == b.failed, task.model.activation
        if not a.failed:
            # a 32-model bmm and a single matmul round differently; cubic formulas amplify it
            assert abs(a.auc - b.auc) < 2e-4, task.model.activation
            np.testing.assert_allclose(a.loss_history, b.loss_history, rtol=1e-3)
    assert len({round(o.auc, 6) for o in together if not o.failed}) > 20
