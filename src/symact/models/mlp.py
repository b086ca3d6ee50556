"""The protocol's network as one ordinary ``nn.Module`` (see the package docstring)."""

from __future__ import annotations

import copy
from collections.abc import Sequence

from torch import nn

from symact.models import _check_widths


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
