"""The batched math of StackedMLP against plain PyTorch, and stack independence, on real data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from training_helpers import Explode, XCos, protocol_split

from symact.models import LIGHT, MLP
from symact.training import StackedMLP, TrainConfig, TrainTask, train_stack
from symact.training.stack import splitmix64

# Tolerances for "equal to float32 rounding" after a few Adam steps: Adam divides by the
# gradient's magnitude, so relative rounding differences of ~1e-7 in gradients become ~1e-7
# relative differences in steps of size lr; 1e-4 absolute on O(0.1) weights is ample and
# still far below one Adam step (1e-3), so a wrong formula cannot hide in it.
ATOL = 1e-4


class MaskDropout(nn.Module):
    """Dropout that applies a mask handed in from outside (to replay the stack's masks)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p, self.keep = p, None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        return x * self.keep / (1.0 - self.p)


def reference_train(task: TrainTask, config: TrainConfig, exact_zero: bool = True) -> nn.Module:
    """nn.Sequential + nn.BCELoss + torch.optim.Adam, one model, the stack's batches and masks.

    With ``exact_zero`` the Linear biases in front of BatchNorm are left out of the optimizer:
    their true gradient is exactly zero, which is what the stack uses; PyTorch would feed the
    rounding noise of that zero to Adam (see symact/training/stack.py).
    """
    d = task.n_features
    init = StackedMLP(d, task.widths, [task.activation], [task.seed], config, torch.device("cpu"))
    gen = init.generators[0]  # positioned right after the init draws, as in the stack
    model = MLP(d, task.widths, task.activation, config.dropout)
    drops = []
    for i in range(len(task.widths)):
        drops.append(MaskDropout(config.dropout))
        model[4 * i + 3] = drops[-1]
    model.load_state_dict(init.state_dict(0))
    pre_bn_biases = {id(model[4 * i].bias) for i in range(len(task.widths))}
    params = [p for p in model.parameters() if not (exact_zero and id(p) in pre_bn_biases)]
    opt = torch.optim.Adam(params, lr=config.lr)
    loss_fn = nn.BCELoss()
    X, y = torch.as_tensor(task.X_train), torch.as_tensor(task.y_train).float()
    n = len(X)
    keep_from = round(config.dropout * 65536) - 32768
    drawn = 0  # SplitMix64 outputs used so far by this model's dropout
    model.train()
    for _ in range(config.epochs):
        perm = torch.randperm(n, generator=gen)
        for start in range(0, n, config.batch_size):
            idx = perm[start : start + config.batch_size]
            if config.dropout > 0:
                sizes = [len(idx) * w for w in task.widths]
                n64 = -(-sum(sizes) // 4)
                r16 = splitmix64(init._dropout_keys, drawn, n64)[0].view(torch.int16)
                drawn += n64
                off = 0
                for drop, w, size in zip(drops, task.widths, sizes, strict=True):
                    drop.keep = (r16[off : off + size].view(len(idx), w) >= keep_from).float()
                    off += size
            loss = loss_fn(model(X[idx]).squeeze(1), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def assert_same_model(a: nn.Module, b: nn.Module, atol: float = ATOL) -> None:
    """Equal weights, biases, BN affine parameters and BN running statistics."""

    def layers(model: nn.Module) -> dict[str, torch.Tensor]:  # Linear and BN entries only
        return {n: t for n, t in model.state_dict().items() if int(n.split(".")[0]) % 4 in (0, 1)}

    sa, sb = layers(a), layers(b)
    assert sa.keys() == sb.keys() and len(sa) > 0
    for name, ta in sa.items():
        torch.testing.assert_close(ta, sb[name], atol=atol, rtol=1e-4, msg=name)


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
    config, cpu = TrainConfig(dropout=0.3), torch.device("cpu")
    pair = StackedMLP(10, (64, 32), [nn.ReLU()] * 2, [3, 4], config, cpu)
    alone = StackedMLP(10, (64, 32), [nn.ReLU()], [4], config, cpu)
    for _ in range(2):  # two steps: the stream advances the same way in both stacks
        masks_pair, masks_alone = pair.draw_keep_masks(1024), alone.draw_keep_masks(1024)
        for mp, ma in zip(masks_pair, masks_alone, strict=True):
            assert torch.equal(mp[1], ma[0])
            assert not torch.equal(mp[0], mp[1])
    kept = torch.cat([m.flatten() for m in masks_pair]).mean().item()
    assert abs(kept - 0.7) < 0.005  # 196,608 units: 4.5 standard deviations


def spam_slice(spambase, seed: int, rows: int = 2000):
    X, y = spambase
    return protocol_split(X[:rows], y[:rows], seed)


def test_init_equals_nn_linear_under_manual_seed():
    """Our per-model init draws PyTorch's default init numbers from the model's own seed."""
    config = TrainConfig()
    stack = StackedMLP(57, (64, 32), [nn.ReLU()] * 2, [7, 8], config, torch.device("cpu"))
    for k, seed in enumerate((7, 8)):
        torch.manual_seed(seed)
        ref = MLP(57, (64, 32), nn.ReLU())
        for name, tensor in ref.state_dict().items():
            torch.testing.assert_close(stack.state_dict(k)[name], tensor, atol=0, rtol=0)


def test_init_independent_of_stack_position():
    config, cpu = TrainConfig(), torch.device("cpu")
    alone = StackedMLP(28, (64, 32), [nn.ReLU()], [43], config, cpu).state_dict(0)
    mixed = StackedMLP(28, (64, 32), [nn.GELU(), nn.ReLU()], [42, 43], config, cpu)
    for name, tensor in alone.items():
        assert torch.equal(mixed.state_dict(1)[name], tensor), name


@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("activation", [nn.ReLU(), nn.GELU(), XCos()], ids=["relu", "gelu", "xcos"])
def test_stack_matches_plain_pytorch_training(spambase, activation, dropout):
    """The hand-written BN / dropout / BCE / Adam math equals nn.Sequential + torch.optim.Adam."""
    config = TrainConfig(epochs=2, dropout=dropout)
    task = TrainTask(*spam_slice(spambase, 42), LIGHT.widths, activation, seed=42)
    (outcome,) = train_stack([task], config, return_models=True)
    reference = reference_train(task, config)
    noisy = reference_train(task, config, exact_zero=False)
    assert_same_model(outcome.model, reference)
    with torch.no_grad():
        x_test = torch.as_tensor(task.X_test)
        torch.testing.assert_close(outcome.model(x_test), reference(x_test), atol=1e-5, rtol=0)
        # PyTorch's noise-driven walk of the pre-BN biases moves predictions only a little
        assert (outcome.model(x_test) - noisy(x_test)).abs().max() < 2e-3


def test_task_in_stack_equals_task_alone(spambase):
    """Neighbours with other seeds, data and activations do not change a model's training."""
    config = TrainConfig(epochs=2)
    split42, split43 = spam_slice(spambase, 42), spam_slice(spambase, 43)
    tasks = [
        TrainTask(*split42, LIGHT.widths, nn.ReLU(), seed=42),
        TrainTask(*split43, LIGHT.widths, nn.GELU(), seed=43),
        TrainTask(*split43, LIGHT.widths, XCos(), seed=43),
        TrainTask(*split42, LIGHT.widths, nn.SiLU(), seed=44),
        TrainTask(*split42, LIGHT.widths, XCos(), seed=45),
    ]
    stacked = train_stack(tasks, config, return_models=True)
    for j in (0, 1, 2, 3):
        (alone,) = train_stack([tasks[j]], config, return_models=True)
        assert_same_model(stacked[j].model, alone.model, atol=1e-5)
        assert abs(stacked[j].auc - alone.auc) < 1e-4
        assert abs(stacked[j].accuracy - alone.accuracy) <= 1 / len(tasks[j].y_test)
        np.testing.assert_allclose(stacked[j].loss_history, alone.loss_history, rtol=1e-5)


def test_exploding_model_fails_alone_and_others_go_on(spambase):
    config = TrainConfig(epochs=2)
    split = spam_slice(spambase, 42)
    good = [
        TrainTask(*split, LIGHT.widths, act, seed=s) for act, s in ((nn.ReLU(), 1), (XCos(), 2))
    ]
    bad = TrainTask(*split, LIGHT.widths, Explode(), seed=3, label="explode")
    with_bad = train_stack([good[0], bad, good[1]], config, return_models=True)
    without = train_stack(good, config, return_models=True)
    failed = with_bad[1]
    assert failed.failed and failed.label == "explode"
    assert failed.failure_reason is not None
    assert "at epoch 1 step 1" in failed.failure_reason
    assert failed.failure_reason.startswith(("loss became", "gradient became"))
    assert np.isnan(failed.auc) and np.isnan(failed.accuracy) and failed.epochs_run == 1
    for a, b in zip((with_bad[0], with_bad[2]), without, strict=True):
        assert not a.failed and a.failure_reason is None
        assert_same_model(a.model, b.model, atol=1e-5)
        assert abs(a.auc - b.auc) < 1e-4


def test_activation_with_trainable_parameters_is_refused(spam_split):
    task = TrainTask(*spam_split, LIGHT.widths, nn.PReLU(), seed=1)
    with pytest.raises(ValueError, match="trainable parameters"):
        train_stack([task], TrainConfig(epochs=1))


def test_formula_activation_trains_like_the_same_hand_written_module(spambase):
    """make_activation's compiled x*cos(x) and a hand-written x*cos(x) train the same model."""
    from symact.formula import make_activation

    config = TrainConfig(epochs=2)
    split = spam_slice(spambase, 42)
    formula = TrainTask(*split, LIGHT.widths, make_activation("mul(x, cos(x))"), seed=5)
    module = TrainTask(*split, LIGHT.widths, XCos(), seed=5)
    a, b = train_stack([formula, module], config, return_models=True)
    assert_same_model(a.model, b.model, atol=1e-5)
    assert abs(a.auc - b.auc) < 1e-4


def test_constant_activation_trains_without_gradient_below_it(spambase):
    """An activation whose output ignores its input (a constant formula) has derivative 0.

    Its stack neighbours train as usual, and the layers below it get no gradient: their
    weights keep their initial values.
    """
    from symact.formula import make_activation

    config = TrainConfig(epochs=1)
    split = spam_slice(spambase, 42)
    tasks = [
        TrainTask(*split, LIGHT.widths, make_activation("0.5"), seed=1),
        TrainTask(*split, LIGHT.widths, XCos(), seed=2),
    ]
    stacked = train_stack(tasks, config, return_models=True)
    (alone,) = train_stack([tasks[1]], config, return_models=True)
    assert_same_model(stacked[1].model, alone.model, atol=1e-5)
    initial = StackedMLP(
        split[0].shape[1], LIGHT.widths, [nn.ReLU()], [1], config, torch.device("cpu")
    )
    assert not stacked[0].failed
    torch.testing.assert_close(stacked[0].model[0].weight, initial.state_dict(0)["0.weight"])
