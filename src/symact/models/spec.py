"""``ModelSpec``: the one description of a network, and everything derived from it.

A network here is a stack of hidden layers ``Linear -> normalization -> activation ->
dropout`` and an output ``Linear``: one logit and binary cross-entropy for two classes,
``n_outputs`` logits and softmax cross-entropy for more. Everything that depends on that
shape is computed here and nowhere else: the parameter layout the stacked trainer stores
(and the state-dict key each block maps to), the parameter count the paper's "Efficiency"
divides by, the cost estimate the scheduler sizes stacks with, and ``to_module()``, a plain
``nn.Module`` computing the same function. A new layer kind or head changes this file, the
trainer's step (``symact.training.stack``) and the module (``network.py``).

Torch is imported by ``to_module`` only: specs are part of run keys, which the benchmark's
discovery child computes without torch.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from symact.errors import SettingError
from symact.formula.named import named_activation
from symact.formula.parser import parse_formula
from symact.formula.tree import Formula, FormulaError
from symact.identity import identity_dict

if TYPE_CHECKING:
    from symact.models.network import Network

NORMALIZATIONS = ("batchnorm", "none")


def check_widths(widths: Sequence[int]) -> tuple[int, ...]:
    """Hidden widths as a tuple of positive ints; ValueError naming the bad value."""
    if isinstance(widths, (str, bytes)) or len(widths) == 0:
        raise SettingError(
            f"hidden widths must be a non-empty sequence of positive integers, got {widths!r}"
        )
    for w in widths:
        if isinstance(w, bool) or not isinstance(w, (int, float)) or int(w) != w or w < 1:
            raise SettingError(
                f"hidden widths must be a non-empty sequence of positive integers, got {widths!r}"
            )
    return tuple(int(w) for w in widths)


def canonical_activation(activation: str) -> str:
    """A name (``"ReLU"`` -> ``"relu"``, ``"swish"`` -> ``"silu"``) or a formula's canonical
    prefix text, so that equal activations give equal run keys; FormulaError otherwise."""
    if not isinstance(activation, str):
        raise TypeError(f"an activation is a name or formula text, got {type(activation).__name__}")
    named = named_activation(activation)
    if named is not None:
        return "silu" if named.name == "swish" else named.name
    formula = parse_formula(activation)
    if not formula.is_univariate:
        raise FormulaError(
            f"an activation takes one input x, but {formula} uses {', '.join(formula.variables)}"
        )
    return str(formula)


@dataclass(frozen=True)
class ParamBlock:
    """One trainable tensor of a model: its shape in the trainer's layout and where it lives
    in ``to_module()``'s state dict (``transpose``: the module stores it ``[out, in]``)."""

    name: str
    shape: tuple[int, ...]
    state_key: str
    transpose: bool = False

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class ModelSpec:
    """A network: hidden widths, normalization, dropout, activation, outputs and loss.

    ``activation`` is a name of ``symact.formula.named`` or formula text over ``x``, kept
    canonical. ``learnable_constants`` makes every constant of a formula activation a
    parameter of each hidden layer (PANGAEA's parametric activations). ``n_outputs`` is 1 for
    binary classification (sigmoid, binary cross-entropy) or the number of classes (softmax,
    cross-entropy); :attr:`loss` names it. ``bn_eps``/``bn_momentum`` are BatchNorm1d's.
    """

    hidden: tuple[int, ...]
    activation: str = "relu"
    norm: str = "batchnorm"
    dropout: float = 0.3
    n_outputs: int = 1
    learnable_constants: bool = False
    bn_eps: float = 1e-5
    bn_momentum: float = 0.1

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", check_widths(self.hidden))
        object.__setattr__(self, "activation", canonical_activation(self.activation))
        if self.norm not in NORMALIZATIONS:
            raise SettingError(f"norm must be one of {NORMALIZATIONS}, got {self.norm!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise SettingError(f"dropout must be in [0, 1), got {self.dropout}")
        if isinstance(self.n_outputs, bool) or not isinstance(self.n_outputs, int):
            raise SettingError(f"n_outputs must be an integer, got {self.n_outputs!r}")
        if self.n_outputs < 1 or self.n_outputs == 2:
            raise SettingError(
                f"n_outputs is 1 for two classes (one logit) or the number of classes (>= 3), "
                f"got {self.n_outputs}"
            )
        if not self.bn_eps > 0 or not 0.0 <= self.bn_momentum <= 1.0:
            raise SettingError(
                f"bn_eps must be > 0 and bn_momentum in [0, 1], got {self.bn_eps}, "
                f"{self.bn_momentum}"
            )
        object.__setattr__(self, "learnable_constants", bool(self.learnable_constants))

    # ------------------------------------------------------------------ variants

    def with_activation(
        self, activation: str, *, learnable_constants: bool | None = None
    ) -> ModelSpec:
        lc = self.learnable_constants if learnable_constants is None else learnable_constants
        return replace(self, activation=activation, learnable_constants=lc)

    def with_outputs(self, n_classes: int) -> ModelSpec:
        """This network for a task with ``n_classes`` classes (1 logit for 2 classes)."""
        return replace(self, n_outputs=1 if n_classes <= 2 else int(n_classes))

    # ------------------------------------------------------------------ derived facts

    @property
    def loss(self) -> str:
        return "binary_cross_entropy" if self.n_outputs == 1 else "cross_entropy"

    @property
    def formula(self) -> Formula | None:
        """The activation as a formula when it is one (not a name), else None."""
        if named_activation(self.activation) is not None:
            return None
        return parse_formula(self.activation)

    @property
    def n_constants(self) -> int:
        """Learnable constants per hidden layer (0 unless ``learnable_constants``)."""
        f = self.formula
        return len(f.constants) if (f is not None and self.learnable_constants) else 0

    def structure(self) -> tuple[Any, ...]:
        """What models of one stack must share (activations may differ)."""
        return (self.hidden, self.norm, self.dropout, self.n_outputs, self.bn_eps, self.bn_momentum)

    def dims(self, n_features: int) -> tuple[int, ...]:
        if isinstance(n_features, bool) or int(n_features) != n_features or n_features < 1:
            raise SettingError(f"n_features must be a positive integer, got {n_features!r}")
        return (int(n_features), *self.hidden, self.n_outputs)

    def layout(self, n_features: int, n_constants: int | None = None) -> tuple[ParamBlock, ...]:
        """The trainable tensors of one model, in ``to_module()``'s parameter order.

        Weights are stored ``[in, out]`` (the batched matmul's layout). ``n_constants``
        overrides the constants per layer (a stack gives each model its largest count).
        """
        nc = self.n_constants if n_constants is None else n_constants
        blocks: list[ParamBlock] = []
        dims = self.dims(n_features)
        last = len(dims) - 2
        for i, (din, dout) in enumerate(itertools.pairwise(dims)):
            prefix = "out" if i == last else f"hidden.{i}.linear"
            blocks.append(ParamBlock(f"W{i}", (din, dout), f"{prefix}.weight", transpose=True))
            blocks.append(ParamBlock(f"b{i}", (1, dout), f"{prefix}.bias"))
            if i == last:
                continue
            if self.norm == "batchnorm":
                blocks.append(ParamBlock(f"gamma{i}", (1, dout), f"hidden.{i}.norm.weight"))
                blocks.append(ParamBlock(f"beta{i}", (1, dout), f"hidden.{i}.norm.bias"))
            if nc:
                blocks.append(ParamBlock(f"c{i}", (nc,), f"hidden.{i}.act.c"))
        return tuple(blocks)

    def param_count(self, n_features: int) -> int:
        """Trainable parameters: Linear weights and biases, BatchNorm affine, activation
        constants. BatchNorm running statistics are buffers, not counted (this reproduces
        the paper's 4,161 / 5,825 / 6,017 for Light on d = 28 / 54 / 57)."""
        return sum(b.numel for b in self.layout(n_features))

    def macs_per_row(self, n_features: int) -> int:
        return sum(a * b for a, b in itertools.pairwise(self.dims(n_features)))

    def cost(self, n_features: int, rows: int, epochs: int) -> float:
        """Relative training work of one model (rows x epochs x weights per row); the
        scheduler sizes stacks with it."""
        return float(rows) * epochs * self.macs_per_row(n_features)

    def to_module(self, n_features: int) -> Network:
        """A plain ``nn.Module`` with this function (logits out; see ``network.Network``)."""
        from symact.models.network import Network

        return Network(self, n_features)

    # ------------------------------------------------------------------ identity

    def to_dict(self) -> dict[str, Any]:
        """The fields that differ from their defaults (``symact.identity``): a field added
        later, at its default, leaves every run key unchanged."""
        return identity_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        return cls(**{**d, "hidden": tuple(d["hidden"])})


#: The paper's two networks (PROTOCOL.md): Heavy 200-100 (always ReLU), Light 64-32.
HEAVY = ModelSpec(hidden=(200, 100))
LIGHT = ModelSpec(hidden=(64, 32))
