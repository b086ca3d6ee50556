"""The paper's two network shapes, their parameter counts, and a plain single-model MLP.

PROTOCOL.md fixes two multilayer perceptrons for binary classification: *Heavy*
(hidden widths 200, 100, always ReLU) and *Light* (hidden widths 64, 32, any activation).
Every hidden layer is ``Linear -> BatchNorm1d -> activation -> Dropout``, and the output is
``Linear(last, 1) -> Sigmoid``. This module owns those widths, the parameter count the paper's
"Efficiency" metric divides by, and :class:`MLP`, an ordinary ``nn.Module`` with exactly that
layout, used to export a trained model or to run one model outside the batched trainer
(:mod:`symact.training` trains many at once on stacked parameters and can hand its result
back as an :class:`MLP` state dict).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn


def _check_widths(widths: Sequence[int]) -> None:
    if len(widths) == 0 or any(int(w) != w or w < 1 for w in widths):
        raise ValueError(
            f"hidden widths must be a non-empty sequence of positive integers, got {widths!r}"
        )


@dataclass(frozen=True)
class Architecture:
    """A named stack of hidden-layer widths (the output layer of width 1 is implied)."""

    name: str
    widths: tuple[int, ...]

    def __post_init__(self) -> None:
        _check_widths(self.widths)


HEAVY = Architecture("Heavy", (200, 100))
LIGHT = Architecture("Light", (64, 32))
ARCHITECTURES = {a.name: a for a in (HEAVY, LIGHT)}


def param_count(n_features: int, widths: Sequence[int]) -> int:
    """Trainable parameters of the protocol's MLP: Linear weights and biases plus BN affine.

    BatchNorm running statistics are buffers, not parameters, so they are not counted
    (this reproduces the paper's 4,161 / 5,825 / 6,017 for Light on d = 28 / 54 / 57).
    """
    if n_features < 1:
        raise ValueError(f"n_features must be >= 1, got {n_features}")
    _check_widths(widths)
    total, fan_in = 0, n_features
    for w in widths:
        total += fan_in * w + w + 2 * w  # Linear weight + bias, BN weight + bias
        fan_in = w
    return total + fan_in + 1  # output Linear(fan_in, 1)


class MLP(nn.Sequential):
    """The protocol's network as one ``nn.Sequential``.

    Layout (for widths ``(w1, w2)``)::

        0 Linear(d, w1)  1 BatchNorm1d(w1)  2 act  3 Dropout(p)
        4 Linear(w1, w2) 5 BatchNorm1d(w2)  6 act  7 Dropout(p)
        8 Linear(w2, 1)  9 Sigmoid

    ``activation`` is any element-wise ``nn.Module`` (from ``make_activation``); each hidden
    layer gets its own deep copy so that stateful activations are never shared by accident.
    The forward pass returns probabilities of shape ``(batch, 1)``, as the reference's model.
    """

    def __init__(
        self,
        n_features: int,
        widths: Sequence[int],
        activation: nn.Module,
        dropout: float = 0.3,
        *,
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.1,
    ) -> None:
        _check_widths(widths)
        if not isinstance(activation, nn.Module):
            raise TypeError(
                f"activation must be an nn.Module (e.g. nn.ReLU() or make_activation('gelu')), "
                f"got {type(activation).__name__}"
            )
        layers: list[nn.Module] = []
        fan_in = n_features
        for w in widths:
            layers += [
                nn.Linear(fan_in, w),
                nn.BatchNorm1d(w, eps=bn_eps, momentum=bn_momentum),
                copy.deepcopy(activation),
                nn.Dropout(dropout),
            ]
            fan_in = w
        layers += [nn.Linear(fan_in, 1), nn.Sigmoid()]
        super().__init__(*layers)
        self.n_features = n_features
        self.widths = tuple(int(w) for w in widths)

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}, widths={self.widths}"
