"""``ModelSpec``: the one description of a network, and everything derived from it.

A network is a sequence of :class:`Stage` s and an output ``Linear`` (one logit and binary
cross-entropy for two classes, ``n_outputs`` logits and softmax cross-entropy for more).
A stage is the fixed pipeline ``[Linear] -> normalization or bias -> [activation] ->
[dropout] -> [+ an earlier stage's output]``, each part switched on or off; an
architecture (``arch``) is only the list of stages :meth:`ModelSpec.stages` returns:

* ``"mlp"``: one stage per hidden width, ``Linear -> BatchNorm -> activation -> dropout``.
* ``"resnet"``: Gorishniy et al. 2021's residual MLP, ``hidden = (width, inner width)``:
  an input projection ``Linear(d, width)``; per block ``BatchNorm``, then ``Linear(width,
  inner) -> activation -> dropout``, then ``Linear(inner, width) -> dropout -> + the
  block's input``; a head ``BatchNorm -> activation`` before the output ``Linear``.

Everything that depends on the stages is derived here and nowhere else: the parameter
layout the stacked trainer stores (and the state-dict key each tensor maps to), the
parameter count the paper's "Efficiency" divides by, the cost estimate the scheduler sizes
stacks with. The module (``network.py``), the stacked torch step (``training/stack.py``)
and the fused step (``training/fused.py``) each interpret the stages; none of them lists
layers. A new architecture made of these parts changes :meth:`ModelSpec.stages` only.

Torch is imported by ``to_module`` only: specs are part of run keys, which the benchmark's
discovery child computes without torch.
"""

from __future__ import annotations

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
ARCHITECTURES = ("mlp", "resnet")
#: residual blocks of ``arch="resnet"`` when ``blocks`` is not given
DEFAULT_BLOCKS = 2
#: how an activation's per-neuron parametric form is written (``"param:relu"``)
PARAMETRIC_PREFIX = "param:"


def split_parametric(activation: str) -> tuple[bool, str]:
    """``"param:relu"`` -> ``(True, "relu")``; any other text -> ``(False, text)`` (the
    prefix in any case, spaces around it allowed)."""
    text = activation.strip()
    if text[: len(PARAMETRIC_PREFIX)].lower() == PARAMETRIC_PREFIX:
        return True, text[len(PARAMETRIC_PREFIX) :].strip()
    return False, activation


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
    parametric, activation = split_parametric(activation)
    if parametric:  # RealMLP's x + a * (f(x) - x) of any activation: ModelSpec.parametric
        if split_parametric(activation)[0]:
            raise FormulaError(f"{PARAMETRIC_PREFIX} is written once, got {activation!r} after it")
        return PARAMETRIC_PREFIX + canonical_activation(activation)
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
class Stage:
    """One step of a network: ``[Linear] -> BatchNorm (norm) or bias -> [activation] ->
    [dropout] -> [+ output of stage skip]``, on ``width`` units.

    Without ``linear`` the stage reads the previous stage's output as it is (then ``norm``
    is required: a bias alone would be a Linear's). ``act`` is the model's activation (else
    the identity); ``drop`` takes the next ``batch * width`` dropout bits of the model's
    stream (see ``TorchStep.draw_keep_masks``); ``skip`` adds the output of an earlier
    stage after the dropout. ``fixed_bias``: the Linear's bias has an exactly zero gradient
    in training, since every path from it to the loss meets a BatchNorm (which subtracts the
    batch mean) before any activation or dropout; the steps keep that exact zero
    (``training/stack.py`` explains why). :meth:`ModelSpec.stages` sets it.
    """

    width: int
    linear: bool = True
    norm: bool = True
    act: bool = True
    drop: bool = True
    skip: int | None = None
    fixed_bias: bool = False


@dataclass(frozen=True)
class ModelSpec:
    """A network: hidden widths, normalization, dropout, activation, outputs and loss.

    ``arch`` picks the stages (module docstring): for ``"resnet"``, ``hidden`` is
    ``(width, inner width)`` and ``blocks`` the number of residual blocks (default 2).
    ``activation`` is a name of ``symact.formula.named`` or formula text over ``x``, kept
    canonical. ``learnable_constants`` makes every constant of a formula activation a
    parameter of each hidden layer (PANGAEA's parametric activations). ``parametric``
    applies RealMLP's per-neuron form (Holzmüller et al. 2024) after the activation ``f``:
    ``x + a * (f(x) - x)`` with one ``a`` per unit of each stage with an activation, started
    at 1 (so training starts from ``f``); ``activation="param:relu"`` is the same as
    ``activation="relu", parametric=True`` (the spelling of tables and the command line,
    :attr:`activation_text`). ``n_outputs`` is 1 for
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
    arch: str = "mlp"
    blocks: int | None = None
    parametric: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", check_widths(self.hidden))
        if self.arch not in ARCHITECTURES:
            raise SettingError(f"arch must be one of {ARCHITECTURES}, got {self.arch!r}")
        if self.arch == "mlp" and self.blocks is not None:
            raise SettingError("blocks applies to arch='resnet' only; leave it out for 'mlp'")
        if self.arch == "resnet":
            blocks = DEFAULT_BLOCKS if self.blocks is None else self.blocks
            if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 1:
                raise SettingError(f"blocks must be a positive integer, got {self.blocks!r}")
            object.__setattr__(self, "blocks", blocks)
            if len(self.hidden) != 2:
                raise SettingError(
                    f"arch='resnet' takes hidden=(width, inner width), got {self.hidden}"
                )
            if self.norm != "batchnorm":
                raise SettingError("arch='resnet' normalizes with BatchNorm; norm='none' is mlp's")
        prefixed, activation = split_parametric(canonical_activation(self.activation))
        object.__setattr__(self, "activation", activation)
        object.__setattr__(self, "parametric", bool(self.parametric) or prefixed)
        named = named_activation(activation)
        if named is not None and named.learnable:  # prelu: its slope is always learned
            object.__setattr__(self, "learnable_constants", True)
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
        """This network with another activation (``"param:..."`` for the parametric form;
        without the prefix the form is plain)."""
        lc = self.learnable_constants if learnable_constants is None else learnable_constants
        return replace(self, activation=activation, learnable_constants=lc, parametric=False)

    def with_outputs(self, n_classes: int) -> ModelSpec:
        """This network for a task with ``n_classes`` classes (1 logit for 2 classes)."""
        return replace(self, n_outputs=1 if n_classes <= 2 else int(n_classes))

    # ------------------------------------------------------------------ derived facts

    @property
    def loss(self) -> str:
        return "binary_cross_entropy" if self.n_outputs == 1 else "cross_entropy"

    @property
    def activation_text(self) -> str:
        """The activation as tables and the command line write it (``"param:relu"``)."""
        return PARAMETRIC_PREFIX + self.activation if self.parametric else self.activation

    @property
    def formula(self) -> Formula | None:
        """The activation as a formula when it is one (not a name), else None."""
        if named_activation(self.activation) is not None:
            return None
        return parse_formula(self.activation)

    @property
    def n_constants(self) -> int:
        """Learnable constants per hidden layer (0 unless ``learnable_constants``)."""
        named = named_activation(self.activation)
        f = parse_formula(named.formula) if named is not None and named.learnable else self.formula
        return len(f.constants) if (f is not None and self.learnable_constants) else 0

    def structure(self) -> tuple[Any, ...]:
        """What models of one stack must share (activations may differ)."""
        return (
            self.hidden,
            self.norm,
            self.dropout,
            self.n_outputs,
            self.bn_eps,
            self.bn_momentum,
            self.arch,
            self.blocks,
            self.parametric,
        )

    def stages(self) -> tuple[Stage, ...]:
        """The network's stages, in order (module docstring); the output Linear follows."""
        stages = self._arch_stages()
        # shift_free[i]: adding a constant to stage i's output leaves the loss unchanged
        shift_free = [False] * len(stages)
        for i in reversed(range(len(stages))):
            readers = [j for j, s in enumerate(stages) if s.skip == i]  # a shift passes a skip
            ok = all(shift_free[j] for j in readers) and i + 1 < len(stages)
            if ok:
                nxt = stages[i + 1]
                passes = not (nxt.act or (nxt.drop and self.dropout > 0.0))
                ok = nxt.norm or (passes and shift_free[i + 1])
            shift_free[i] = ok
        return tuple(
            replace(s, fixed_bias=s.linear and (s.norm or (not s.act and shift_free[i] and
                    not (s.drop and self.dropout > 0.0))))
            for i, s in enumerate(stages)
        )  # fmt: skip

    def _arch_stages(self) -> list[Stage]:
        norm = self.norm == "batchnorm"
        if self.arch == "mlp":
            return [Stage(w, norm=norm) for w in self.hidden]
        width, inner = self.hidden
        stages = [Stage(width, norm=False, act=False, drop=False)]  # the input projection
        for _ in range(self.blocks):
            stream = len(stages) - 1  # the block's input
            stages.append(Stage(width, linear=False, act=False, drop=False))
            stages.append(Stage(inner, norm=False))
            stages.append(Stage(width, norm=False, act=False, skip=stream))
        stages.append(Stage(width, linear=False, drop=False))  # the head: norm -> activation
        return stages

    def dims(self, n_features: int) -> tuple[int, ...]:
        """Input width, each stage's width, outputs."""
        if isinstance(n_features, bool) or int(n_features) != n_features or n_features < 1:
            raise SettingError(f"n_features must be a positive integer, got {n_features!r}")
        return (int(n_features), *(s.width for s in self.stages()), self.n_outputs)

    def linears(self, n_features: int) -> tuple[tuple[int, int], ...]:
        """``(fan_in, fan_out)`` of every Linear, in order (the output's last)."""
        dims, stages = self.dims(n_features), self.stages()
        out = [(dims[i], s.width) for i, s in enumerate(stages) if s.linear]
        return (*out, (dims[-2], dims[-1]))

    def layout(self, n_features: int, n_constants: int | None = None) -> tuple[ParamBlock, ...]:
        """The trainable tensors of one model, in ``to_module()``'s parameter order.

        Weights are stored ``[in, out]`` (the batched matmul's layout). ``n_constants``
        overrides the constants per layer (a stack gives each model its largest count).
        A ``parametric`` model has ``a{i}``, one value per unit, in each stage with an
        activation (the module keeps the activation's own constants under ``act.f``).
        """
        nc = self.n_constants if n_constants is None else n_constants
        blocks: list[ParamBlock] = []
        dims = self.dims(n_features)
        stages = self.stages()
        for i, st in enumerate(stages):
            if st.linear:
                w = (dims[i], st.width)
                blocks.append(ParamBlock(f"W{i}", w, f"hidden.{i}.linear.weight", transpose=True))
                blocks.append(ParamBlock(f"b{i}", (1, st.width), f"hidden.{i}.linear.bias"))
            if st.norm:
                blocks.append(ParamBlock(f"gamma{i}", (1, st.width), f"hidden.{i}.norm.weight"))
                blocks.append(ParamBlock(f"beta{i}", (1, st.width), f"hidden.{i}.norm.bias"))
            if self.parametric and st.act:
                blocks.append(ParamBlock(f"a{i}", (1, st.width), f"hidden.{i}.act.alpha"))
            if nc and st.act:
                inner = "act.f" if self.parametric else "act"
                blocks.append(ParamBlock(f"c{i}", (nc,), f"hidden.{i}.{inner}.c"))
        n = len(stages)
        blocks.append(ParamBlock(f"W{n}", (dims[-2], dims[-1]), "out.weight", transpose=True))
        blocks.append(ParamBlock(f"b{n}", (1, dims[-1]), "out.bias"))
        return tuple(blocks)

    def param_count(self, n_features: int) -> int:
        """Trainable parameters: Linear weights and biases, BatchNorm affine, activation
        constants, the parametric form's per-unit ``a``. BatchNorm running statistics are
        buffers, not counted (this reproduces the paper's 4,161 / 5,825 / 6,017 for Light on
        d = 28 / 54 / 57)."""
        return sum(b.numel for b in self.layout(n_features))

    def macs_per_row(self, n_features: int) -> int:
        return sum(a * b for a, b in self.linears(n_features))

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
