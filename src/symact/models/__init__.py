"""The paper's two network shapes, their parameter counts, and a plain single-model MLP.

PROTOCOL.md fixes two multilayer perceptrons for binary classification: *Heavy*
(hidden widths 200, 100, always ReLU) and *Light* (hidden widths 64, 32, any activation).
Every hidden layer is ``Linear -> BatchNorm1d -> activation -> Dropout``, and the output is
``Linear(last, 1) -> Sigmoid``. This module owns those widths, the parameter count the paper's
"Efficiency" metric divides by, and :class:`MLP`, an ordinary ``nn.Module`` with exactly that
layout, used to export a trained model or to run one model outside the batched trainer
(:mod:`symact.training` trains many at once on stacked parameters and can hand its result
back as an :class:`MLP` state dict).

:class:`MLP` lives in ``mlp.py`` and is imported on first use: the shapes and counts here are
needed by the experiment specs, which the benchmark's discovery child reads without torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from symact._lazy import lazy_attributes

if TYPE_CHECKING:
    from symact.models.mlp import MLP as MLP


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


__all__ = ["ARCHITECTURES", "HEAVY", "LIGHT", "MLP", "Architecture", "param_count"]

__getattr__ = lazy_attributes(__name__, {"MLP": "symact.models.mlp"})
