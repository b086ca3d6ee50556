"""What a stack of models is (its structure) and where its training stands (its state).

A stack of K models (``stack.py``) is two values. :class:`StackStructure` is what the
models compute and never changes: their :class:`~symact.models.ModelSpec` stages, each
model's activation, the layout of the flat parameter buffer (``ModelSpec.layout``), the
dropout threshold. :class:`TrainState` is everything a training step changes: the flat
parameters and gradients with their per-block views, BatchNorm's running statistics per
stage, the optimizer's state, each model's generator and dropout key with the count of
dropout bits drawn, the step count and which models still train. The two step
implementations, the torch ops (``stack.TorchStep``) and the fused C kernels
(``fused.FusedStep``), read a structure and update a state passed to them; they hold
nothing of the state themselves, so a state can be copied (:meth:`TrainState.snapshot`)
and put back (:meth:`TrainState.restore`) and either path continues from it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from symact.formula.activation import activation_formula
from symact.formula.program import Program, compile_program
from symact.formula.tree import Formula
from symact.models.spec import ModelSpec, ParamBlock, Stage
from symact.training.config import TrainConfig
from symact.training.optimizers import Optimizer, make_optimizer

_INT64_MIN = -(2**63)


@dataclass(frozen=True)
class ModelActivation:
    """What one model of a stack computes between normalization and dropout.

    ``module`` is the ``nn.Module`` (``to_module`` gets a copy per layer); ``formula`` and
    ``program`` exist when the module is a formula the fused kernels can run; with
    ``learnable`` the formula's constants are parameters of every hidden layer.
    """

    module: nn.Module
    formula: Formula | None
    learnable: bool
    program: Program | None

    @classmethod
    def of(cls, module: nn.Module) -> ModelActivation:
        if not isinstance(module, nn.Module):
            raise TypeError(
                f"activation must be an nn.Module (e.g. nn.ReLU() or make_activation('gelu')), "
                f"got {type(module).__name__}"
            )
        found = activation_formula(module)
        if found is None:
            if any(p.requires_grad for p in module.parameters()):
                raise ValueError(
                    f"activation {module!r} has trainable parameters the stacked trainer "
                    "cannot see; use a formula with learnable constants instead "
                    "(make_activation(text, learnable_constants=True))"
                )
            return cls(module, None, False, None)
        formula, learnable = found
        learnable = learnable and bool(formula.constants)
        return cls(
            module, formula, learnable, compile_program(formula, learnable_constants=learnable)
        )

    @property
    def n_constants(self) -> int:
        return len(self.formula.constants) if self.learnable else 0

    def key(self) -> tuple:
        """Models with equal keys compute the same function given their own constants."""
        if self.learnable:
            return ("learnable", str(self.formula.with_constants([0.0] * self.n_constants)))
        return (type(self.module), repr(self.module))


@dataclass(frozen=True)
class Group:
    """Consecutive models with the same activation (one autograd graph per layer)."""

    start: int
    stop: int
    act: ModelActivation


def _groups(acts: Sequence[ModelActivation]) -> tuple[Group, ...]:
    groups: list[Group] = []
    for k, act in enumerate(acts):
        if groups and groups[-1].act.key() == act.key():
            groups[-1] = Group(groups[-1].start, k + 1, groups[-1].act)
        else:
            groups.append(Group(k, k + 1, act))
    return tuple(groups)


@dataclass(frozen=True, eq=False)
class StackStructure:
    """What K models of one ``ModelSpec`` structure compute; fixed for a stack's life.

    ``blocks`` and ``offsets`` lay out the flat buffer: block ``b`` holds ``[K, *b.shape]``
    from ``offsets[b.name]``. ``fixed_constants`` are the kernels' programs' constants that
    are not learnable (``[K, L, n]``, outside the parameters: no optimizer may touch them).
    A unit is kept by dropout when its 16 random bits are at or above ``keep_from``.
    """

    spec: ModelSpec
    k: int
    n_features: int
    device: torch.device
    acts: tuple[ModelActivation, ...]
    groups: tuple[Group, ...]
    stages: tuple[Stage, ...]
    n_consts: int
    blocks: tuple[ParamBlock, ...]
    offsets: dict[str, int]
    fixed_constants: Tensor
    keep_from: int
    drop_scale: float

    @classmethod
    def of(
        cls, spec: ModelSpec, n_features: int, acts: Sequence[ModelActivation], device
    ) -> StackStructure:
        k = len(acts)
        stages = tuple(spec.stages())
        n_consts = max(a.n_constants for a in acts)
        blocks = tuple(spec.layout(int(n_features), n_constants=n_consts))
        offsets, offset = {}, 0
        for b in blocks:
            offsets[b.name] = offset
            offset += k * b.numel
        width = max((len(a.program.constants) for a in acts if a.program), default=0)
        fixed = torch.zeros(k, len(stages), max(width, 1))
        for j, act in enumerate(acts):
            if act.program is not None and not act.learnable and act.program.constants:
                fixed[j, :, : len(act.program.constants)] = torch.tensor(act.program.constants)
        return cls(
            spec=spec,
            k=k,
            n_features=int(n_features),
            device=torch.device(device),
            acts=tuple(acts),
            groups=_groups(acts),
            stages=stages,
            n_consts=n_consts,
            blocks=blocks,
            offsets=offsets,
            fixed_constants=fixed,
            keep_from=round(spec.dropout * 65536) - 32768,  # keep when 16 bits >= this
            drop_scale=1.0 / (1.0 - spec.dropout),
        )

    @property
    def n_hidden(self) -> int:
        return len(self.stages)

    @property
    def parametric(self) -> bool:
        """Every activation in the per-unit form ``x + a (act(x) - x)`` (``ModelSpec``)."""
        return self.spec.parametric

    @property
    def numel(self) -> int:
        """Length of the flat parameter buffer."""
        return sum(self.k * b.numel for b in self.blocks)

    def views(self, flat: Tensor) -> dict[str, Tensor]:
        """The blocks of a flat buffer, each ``[K, *shape]``."""
        return {
            b.name: flat[self.offsets[b.name] : self.offsets[b.name] + self.k * b.numel].view(
                self.k, *b.shape
            )
            for b in self.blocks
        }

    def block(self, name: str) -> ParamBlock:
        return next(b for b in self.blocks if b.name == name)

    def model_index(self, k: int) -> Tensor:
        """Model k's positions in the flat buffer."""
        parts = [
            torch.arange(
                self.offsets[b.name] + k * b.numel, self.offsets[b.name] + (k + 1) * b.numel
            )
            for b in self.blocks
        ]
        return torch.cat(parts).to(self.device)

    def per_model(self, flat: Tensor) -> list[Tensor]:
        """``flat``'s blocks as ``[K, per-model elements]`` views: a masked operation over
        models (early stopping's copy of the best weights) is one call per block."""
        return [
            flat[self.offsets[b.name] : self.offsets[b.name] + self.k * b.numel].view(self.k, -1)
            for b in self.blocks
        ]

    def constants(self, p: dict[str, Tensor], k: int, layer: int) -> Tensor:
        """Model k's activation constants in hidden layer ``layer`` (learnable, from the
        parameter views ``p``, or fixed)."""
        act = self.acts[k]
        if act.learnable:
            return p[f"c{layer}"][k, : act.n_constants]
        n = len(act.program.constants) if act.program is not None else 0
        return self.fixed_constants[k, layer, :n]


@dataclass(eq=False)
class TrainState:
    """Everything one training step of a stack reads and changes (module docstring).

    ``p`` and ``g`` are the per-block views of ``flat`` and ``grad``; the optimizer updates
    ``flat`` in place. ``running_mean``/``running_var`` hold BatchNorm's statistics per
    stage (None where a stage has no norm). ``dropout_drawn`` counts the SplitMix64 outputs
    each model has used. Tensors are updated in place (the fused kernels bind their
    addresses), so :meth:`restore` copies into them.
    """

    flat: Tensor
    grad: Tensor
    p: dict[str, Tensor]
    g: dict[str, Tensor]
    running_mean: list[Tensor | None]
    running_var: list[Tensor | None]
    optimizer: Optimizer
    generators: list[torch.Generator]
    dropout_keys: Tensor  # [K, 1] int64
    dropout_drawn: int = 0
    steps: int = 0
    alive: list[bool] = field(default_factory=list)  # per model: still training

    @classmethod
    def initial(
        cls, structure: StackStructure, seeds: Sequence[int], config: TrainConfig
    ) -> TrainState:
        """Each model's initial weights and dropout key from its own generator, in that order
        (``_init_parameters``), zero gradients and optimizer state, fresh statistics."""
        s = structure
        generators = [torch.Generator().manual_seed(int(seed)) for seed in seeds]
        flat = torch.empty(s.numel, dtype=torch.float32)
        _init_parameters(s, s.views(flat), generators)
        # each model's dropout key, its generator's next draw after the initial weights
        keys = [
            torch.empty(1, dtype=torch.int64).random_(_INT64_MIN, None, generator=g)
            for g in generators
        ]
        dev = s.device
        flat = flat.to(dev)
        grad = torch.zeros_like(flat)
        return cls(
            flat=flat,
            grad=grad,
            p=s.views(flat),
            g=s.views(grad),
            running_mean=[
                torch.zeros(s.k, 1, st.width, device=dev) if st.norm else None for st in s.stages
            ],
            running_var=[
                torch.ones(s.k, 1, st.width, device=dev) if st.norm else None for st in s.stages
            ],
            optimizer=make_optimizer(config, flat),
            generators=generators,
            dropout_keys=torch.stack(keys).to(dev),
            alive=[True] * s.k,
        )

    def running_stats(self) -> list[Tensor]:
        """The running statistics that exist, means then variances."""
        return [t for t in (*self.running_mean, *self.running_var) if t is not None]

    def snapshot(self) -> TrainState:
        """An independent copy: training on either leaves the other as it is."""
        flat, grad = self.flat.clone(), self.grad.clone()
        opt = self.optimizer
        optimizer = type(opt)(opt.config, flat, opt.steps)
        optimizer.state = {name: t.clone() for name, t in opt.state.items()}

        def copy(ts):
            return [None if t is None else t.clone() for t in ts]

        return TrainState(
            flat=flat,
            grad=grad,
            p=_rebased(self.flat, flat, self.p),
            g=_rebased(self.grad, grad, self.g),
            running_mean=copy(self.running_mean),
            running_var=copy(self.running_var),
            optimizer=optimizer,
            generators=[torch.Generator().set_state(g.get_state()) for g in self.generators],
            dropout_keys=self.dropout_keys.clone(),
            dropout_drawn=self.dropout_drawn,
            steps=self.steps,
            alive=list(self.alive),
        )

    def restore(self, saved: TrainState) -> None:
        """Put ``saved`` (a :meth:`snapshot`) back, in place: tensors keep their storage."""
        self.flat.copy_(saved.flat)
        self.grad.copy_(saved.grad)
        for mine, theirs in zip(self.running_stats(), saved.running_stats(), strict=True):
            mine.copy_(theirs)
        for name, t in self.optimizer.state.items():
            t.copy_(saved.optimizer.state[name])
        self.optimizer.steps = saved.optimizer.steps
        for g, theirs in zip(self.generators, saved.generators, strict=True):
            g.set_state(theirs.get_state())
        self.dropout_keys.copy_(saved.dropout_keys)
        self.dropout_drawn, self.steps = saved.dropout_drawn, saved.steps
        self.alive[:] = saved.alive


def _rebased(old: Tensor, new: Tensor, views: dict[str, Tensor]) -> dict[str, Tensor]:
    """``views`` of the buffer ``old`` as the same views of ``new`` (same shape, offsets)."""
    return {
        name: new.as_strided(v.shape, v.stride(), v.storage_offset() - old.storage_offset())
        for name, v in views.items()
    }


def _init_parameters(
    s: StackStructure, views: dict[str, Tensor], generators: Sequence[torch.Generator]
) -> None:
    """PyTorch's default init, model by model from its own generator, in nn.Linear's order.

    nn.Linear: weight ``[out, in]`` ~ kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)),
    then bias ~ U(-1/sqrt(in), 1/sqrt(in)); BatchNorm: weight 1, bias 0; activation
    constants: the formula's values. The bounds are computed with the same float
    expressions as ``torch.nn.init``, so that a generator in the state of
    ``torch.manual_seed(seed)`` gives ``to_module()``'s exact numbers.
    """
    gain = math.sqrt(2.0 / (1 + math.sqrt(5) ** 2))
    linears = [i for i, st in enumerate(s.stages) if st.linear] + [s.n_hidden]
    for k, gen in enumerate(generators):
        for i in linears:
            w = views[f"W{i}"][k]  # [in, out]
            fan_in = w.shape[0]
            w_bound = math.sqrt(3.0) * (gain / math.sqrt(fan_in))
            weight = torch.empty(w.shape[1], fan_in).uniform_(-w_bound, w_bound, generator=gen)
            w.copy_(weight.T)
            b_bound = 1 / math.sqrt(fan_in)
            views[f"b{i}"][k].uniform_(-b_bound, b_bound, generator=gen)
    for i, stage in enumerate(s.stages):
        if stage.norm:
            views[f"gamma{i}"].fill_(1.0)
            views[f"beta{i}"].fill_(0.0)
        if s.parametric and stage.act:
            views[f"a{i}"].fill_(1.0)  # the parametric form starts as the activation
        if s.n_consts and stage.act:
            views[f"c{i}"].zero_()
            for k, act in enumerate(s.acts):
                if act.learnable:
                    views[f"c{i}"][k, : act.n_constants] = torch.tensor(act.formula.constants)
