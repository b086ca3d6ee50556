"""Helpers shared by the training tests: test activations, the protocol's split, and the
reference: ``ModelSpec.to_module()`` trained alone with ``torch.optim`` on the stack's
batches and dropout masks."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn

from symact.models import ModelSpec, Network
from symact.training import StackedModel, TrainConfig, TrainTask
from symact.training.ops import splitmix64
from symact.training.optimizers import make_optimizer

# Tolerances for "equal to float32 rounding" after a few Adam steps: Adam divides by the
# gradient's magnitude, so relative rounding differences of ~1e-7 in gradients become ~1e-7
# relative differences in steps of size lr; 1e-4 absolute on O(0.1) weights is ample and
# still far below one Adam step (1e-3), so a wrong formula cannot hide in it.
ATOL = 1e-4


class XCos(nn.Module):
    """x * cos(x), the paper's HIGGS activation (the Growing Cosine Unit)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.cos(x)


class Explode(nn.Module):
    """An activation whose outputs overflow float32 at once: the loss must turn non-finite."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(torch.exp(x * 10.0))


def protocol_split(X: np.ndarray, y: np.ndarray, seed: int, test_size: float = 0.2):
    """train_test_split(random_state=seed) + StandardScaler fitted on the training part."""
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_size, random_state=seed)
    scaler = StandardScaler().fit(X_tr)
    return (
        scaler.transform(X_tr).astype(np.float32),
        y_tr.astype(np.int64),
        scaler.transform(X_te).astype(np.float32),
        y_te.astype(np.int64),
    )


class MaskDropout(nn.Module):
    """Dropout that applies a keep mask handed in from outside (to replay the stack's masks)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p, self.keep = p, None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        return x * self.keep / (1.0 - self.p)


def reference_train(
    task: TrainTask, config: TrainConfig, exact_zero: bool = True, prepare=None
) -> Network:
    """``task.model.to_module()`` + ``torch.optim`` + torch's loss, one model, the stack's
    batches and dropout masks (its generator and SplitMix64 stream, replayed).

    With ``exact_zero`` the Linear biases in front of BatchNorm (``Stage.fixed_bias``) are left
    out of the optimizer:
    their true gradient is exactly zero, which is what the stack uses; PyTorch would feed the
    rounding noise of that zero to the optimizer (see symact/training/stack.py).
    ``prepare(net)``, given the initialized network, may swap modules for their PyTorch
    twins (``nn.PReLU`` for the formula PReLU) before the optimizer sees the parameters.
    """
    spec: ModelSpec = task.model
    d = task.n_features
    init = StackedModel([spec], d, [task.seed], config, activations=[task.activation])
    gen = init.state.generators[0]  # positioned right after the init draws, as in the stack
    net = Network(spec, d, task.activation)
    drops, widths = [], []  # the stages with dropout, in the order they draw their bits
    for layer, stage in zip(net.hidden, spec.stages(), strict=True):
        if stage.drop:
            layer.drop = MaskDropout(spec.dropout)
            drops.append(layer.drop)
            widths.append(stage.width)
    state = net.state_dict()
    state.update(init.state_dict(0))
    net.load_state_dict(state)
    if prepare is not None:
        prepare(net)
    pre_bn = {
        id(layer.linear.bias)
        for layer, stage in zip(net.hidden, spec.stages(), strict=True)
        if stage.linear and stage.fixed_bias
    }
    params = [p for p in net.parameters() if not (exact_zero and id(p) in pre_bn)]
    opt = make_optimizer(config, torch.zeros(1)).torch_optimizer(params)
    if spec.n_outputs == 1:
        loss_fn = nn.BCEWithLogitsLoss()
        target = torch.as_tensor(task.y_train).float()
    else:
        loss_fn = nn.CrossEntropyLoss()
        target = torch.as_tensor(task.y_train).long()
    X = torch.as_tensor(task.X_train)
    n = len(X)
    drawn = 0  # SplitMix64 outputs used so far by this model's dropout
    net.train()
    for _ in range(config.epochs):
        perm = torch.randperm(n, generator=gen)
        for start in range(0, n, config.batch_size):
            idx = perm[start : start + config.batch_size]
            if spec.dropout > 0:
                sizes = [len(idx) * w for w in widths]
                n64 = -(-sum(sizes) // 4)
                r16 = splitmix64(init.state.dropout_keys, drawn, n64)[0].view(torch.int16)
                drawn += n64
                off = 0
                for drop, w, size in zip(drops, widths, sizes, strict=True):
                    drop.keep = (
                        r16[off : off + size].view(len(idx), w) >= init.structure.keep_from
                    ).float()
                    off += size
            out = net(X[idx])
            loss = loss_fn(out[:, 0] if spec.n_outputs == 1 else out, target[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


def assert_same_model(a: nn.Module, b: nn.Module, atol: float = ATOL) -> None:
    """Equal parameters and buffers (weights, biases, BatchNorm, activation constants).

    Adam divides each gradient by its running size, so a weight whose true gradient is
    about zero (an input column that is nearly constant in the batch) steps in the
    direction of its rounding noise: such a weight can differ by up to one Adam step
    (lr = 1e-3) between two float32 orders of summation. So: every value within ``atol``
    (rtol 1e-4) but for at most one in a thousand, and none beyond 1e-3 — a wrong formula
    moves most weights, by many steps.
    """
    sa = {n: t for n, t in a.state_dict().items() if not n.endswith(("_extra_state", "tracked"))}
    sb = {n: t for n, t in b.state_dict().items() if not n.endswith(("_extra_state", "tracked"))}
    assert sa.keys() == sb.keys() and len(sa) > 0
    off, total = 0, 0
    for name, ta in sa.items():
        tb = sb[name]
        diff = (ta.double() - tb.double()).abs()
        assert bool(torch.isfinite(diff).all()), name
        assert float(diff.max()) < 1e-3, (name, float(diff.max()))
        off += int((diff > atol + 1e-4 * tb.double().abs()).sum())
        total += diff.numel()
    assert off <= max(1, total // 1000), f"{off} of {total} values differ by more than {atol}"
