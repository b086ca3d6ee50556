"""The network a :class:`~symact.models.spec.ModelSpec` describes, as one plain ``nn.Module``.

Used to export a model the stacked trainer trained (its state dict loads under the keys of
``ModelSpec.layout``), and to train or run one model with ordinary PyTorch. It returns
logits, as most PyTorch models do; :meth:`Network.predict_proba` turns them into the
probabilities the metrics read (sigmoid for one logit, softmax for several).
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from symact.formula.activation import ParametricActivation, make_activation
from symact.models.spec import ModelSpec, Stage


class HiddenLayer(nn.Module):
    """One :class:`~symact.models.spec.Stage`: ``[Linear] -> BatchNorm1d or nothing ->
    activation or nothing -> Dropout or nothing`` (the skip is the network's to add)."""

    def __init__(self, fan_in: int, stage: Stage, spec: ModelSpec, activation: nn.Module) -> None:
        super().__init__()
        width = stage.width
        self.linear = nn.Linear(fan_in, width) if stage.linear else None
        self.norm = (
            nn.BatchNorm1d(width, eps=spec.bn_eps, momentum=spec.bn_momentum)
            if stage.norm
            else nn.Identity()
        )
        self.act = copy.deepcopy(activation) if stage.act else nn.Identity()
        if stage.act and spec.parametric:
            self.act = ParametricActivation(self.act, width)
        self.drop = nn.Dropout(spec.dropout) if stage.drop else nn.Identity()
        self.skip = stage.skip

    def forward(self, x: Tensor) -> Tensor:
        if self.linear is not None:
            x = self.linear(x)
        return self.drop(self.act(self.norm(x)))


class Network(nn.Module):
    """``ModelSpec.to_module(n_features)``: the spec's stages, then ``out = Linear(last,
    n_outputs)``.

    Each stage with an activation gets its own activation module (with its own learnable
    constants when the spec asks for them), wrapped in a ``ParametricActivation`` when the
    spec is ``parametric``. ``activation`` overrides the spec's (any element-wise module).
    """

    def __init__(self, spec: ModelSpec, n_features: int, activation: nn.Module | None = None):
        super().__init__()
        dims = spec.dims(n_features)
        if activation is None:
            activation = make_activation(
                spec.activation, learnable_constants=spec.learnable_constants
            )
        if not isinstance(activation, nn.Module):
            raise TypeError(
                f"activation must be an nn.Module (e.g. nn.ReLU() or make_activation('gelu')), "
                f"got {type(activation).__name__}"
            )
        self.spec = spec
        self.n_features = dims[0]
        self.hidden = nn.ModuleList(
            HiddenLayer(dims[i], stage, spec, activation) for i, stage in enumerate(spec.stages())
        )
        self.out = nn.Linear(dims[-2], dims[-1])

    def forward(self, x: Tensor) -> Tensor:
        outputs: list[Tensor] = []
        for layer in self.hidden:
            x = layer(x)
            if layer.skip is not None:
                x = x + outputs[layer.skip]
            outputs.append(x)
        return self.out(x)

    @torch.no_grad()
    def predict_proba(self, x: Tensor) -> Tensor:
        """Class probabilities: ``[n]`` for one logit (the positive class), else ``[n, C]``."""
        logits = self(x)
        if logits.shape[1] == 1:
            return torch.sigmoid(logits[:, 0])
        return torch.softmax(logits, dim=1)

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}, arch={self.spec.arch}, hidden={self.spec.hidden}"
