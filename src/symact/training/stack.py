"""K independent networks on stacked parameters, trained together: the canonical training step.

The paper's benchmark, and an activation search even more so, is many tiny trainings; one at
a time, each is dominated by framework overhead, not arithmetic. Here K models that share a
:class:`~symact.models.ModelSpec` structure (widths, normalization, dropout, outputs; the
activation may differ per model) live in one flat parameter buffer laid out by
``ModelSpec.layout`` (``W[k]`` of shape ``[in, out]``), so one ``torch.bmm`` runs a layer
for all of them, and one optimizer update (``optimizers.py``) updates all of them.

This module is the canonical definition of a training step, in torch ops: forward and
backward of Linear, BatchNorm, dropout and the loss written out by hand; only the
activation goes through autograd (one small graph per group of models with the same
activation). On the CPU, ``fused.py`` runs the same step with everything but the matmuls
in C kernels (``kernels.py``): the same function with the same random draws, tested equal
to this one to float32 rounding; this path stays for CUDA, for activation modules that are
not formulas, and where no C compiler works.

Independence, model by model: each model has its own ``torch.Generator`` seeded with its
seed, and draws, in this order, its initial weights (as ``nn.Linear`` would), its dropout
key, then per epoch its data permutation; its dropout bits are the SplitMix64 stream of its
key, consumed in order (:meth:`StackedModel.draw_keep_masks`). Nothing it draws depends on
the stack it is in. BatchNorm statistics are per model (reductions run over the batch axis
only), and the optimizers are element-wise, so a model trained in a stack equals the same
model trained alone, and ``to_module()`` trained with ``torch.optim`` on the same batches
and masks, up to float32 rounding (tests/training check this).

Three choices that differ from a literal ``nn.Module`` + ``torch.optim`` run, all exact in
real arithmetic or in distribution up to 3e-6:

* Loss: binary cross-entropy on the sigmoid is computed from the logit (same function, no
  float32 saturation); its gradient is ``(sigmoid(z) - y) / batch``; softmax cross-entropy
  likewise ``(softmax(z) - onehot(y)) / batch``.
* The bias of a Linear layer followed by BatchNorm has an exactly zero gradient in training
  mode (BatchNorm subtracts the batch mean); so has any bias whose every path to the loss
  meets a BatchNorm before an activation or dropout (``Stage.fixed_bias``: the residual
  MLP's input projection). We use that exact zero; PyTorch computes the
  float32 rounding noise of that zero, which Adam, normalizing gradients, turns into a tiny
  random walk of the bias that only shifts BatchNorm's running mean along with it.
* Dropout keeps a unit when 16 random bits (from the model's own SplitMix64 stream) are at or
  above ``round(p * 65536)`` of 65536: a drop probability of 0.3000031 for p = 0.3. Drawing
  one float per unit (as ``nn.Dropout`` does) is 3.3x slower on CPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from symact.formula.activation import activation_formula, make_activation
from symact.formula.compile import compile_torch_learnable
from symact.formula.program import Program, compile_program
from symact.formula.tree import Formula
from symact.models.spec import ModelSpec, ParamBlock
from symact.training.config import TrainConfig
from symact.training.optimizers import make_optimizer

_INT64_MIN = -(2**63)
_GOLDEN, _MIX1, _MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def _wrap64(v: int) -> int:
    """An unsigned 64-bit constant as the int64 with the same bits."""
    v &= 2**64 - 1
    return v - 2**64 if v >= 2**63 else v


def splitmix64(keys: Tensor, start: int, n: int, device: torch.device | None = None) -> Tensor:
    """Outputs ``start .. start+n-1`` of SplitMix64 (Steele et al. 2014) for each key: ``[K, n]``.

    Output ``i`` of the generator seeded with ``key`` is ``mix(key + (i + 1) * GOLDEN)``; as
    int64 (wrapping, the same bits as uint64). torch has no logical right shift for int64,
    so each ``>>`` is an arithmetic shift followed by a mask of the bits a logical shift keeps.
    """
    count = torch.arange(start + 1, start + n + 1, dtype=torch.int64, device=device)
    z = torch.add(keys.view(-1, 1), count.mul_(_wrap64(_GOLDEN)))  # [K, n]
    tmp = torch.empty_like(z)
    for shift, mult in ((30, _MIX1), (27, _MIX2), (31, None)):
        torch.bitwise_right_shift(z, shift, out=tmp).bitwise_and_(2 ** (64 - shift) - 1)
        z.bitwise_xor_(tmp)
        if mult is not None:
            z.mul_(_wrap64(mult))
    return z


def bmm(a: Tensor, b: Tensor, out: Tensor | None = None) -> Tensor:
    """``a @ b`` over the stack, balanced across torch's threads.

    A batched matmul splits its batch over the threads, so 3 models on 2 threads take as long
    as 4. The remainder models therefore run as single matmuls, each using every thread.
    """
    k = a.shape[0]
    if out is None:
        out = torch.empty(k, a.shape[1], b.shape[2], device=a.device)
    threads = torch.get_num_threads() if a.device.type == "cpu" else 1
    head = k - k % threads
    if head:
        torch.bmm(a[:head], b[:head], out=out[:head])
    for j in range(head, k):
        torch.mm(a[j], b[j], out=out[j])
    return out


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
class _Group:
    """Consecutive models with the same activation (one autograd graph per layer)."""

    start: int
    stop: int
    act: ModelActivation


def _groups(acts: Sequence[ModelActivation]) -> list[_Group]:
    groups: list[_Group] = []
    for k, act in enumerate(acts):
        if groups and groups[-1].act.key() == act.key():
            groups[-1] = _Group(groups[-1].start, k + 1, groups[-1].act)
        else:
            groups.append(_Group(k, k + 1, act))
    return groups


# Element-wise activations whose derivative ATen provides directly: no autograd graph needed.
# backward(act, grad, input, output) -> gradient at the input
_aten = torch.ops.aten
_KNOWN_BACKWARD = {
    nn.GELU: lambda act, g, x, out: _aten.gelu_backward(g, x, approximate=act.approximate),
    nn.SiLU: lambda act, g, x, out: _aten.silu_backward(g, x),
    nn.Tanh: lambda act, g, x, out: _aten.tanh_backward(g, out),
    nn.Sigmoid: lambda act, g, x, out: _aten.sigmoid_backward(g, out),
}


class StackedModel:
    """K models of one ``ModelSpec`` structure, their optimizer state and random generators.

    ``specs[k]``, ``seeds[k]`` (and ``activations[k]``, a module overriding the spec's
    activation) belong to model k.
    """

    def __init__(
        self,
        specs: Sequence[ModelSpec],
        n_features: int,
        seeds: Sequence[int],
        config: TrainConfig,
        device: torch.device | str = "cpu",
        activations: Sequence[nn.Module | None] | None = None,
    ) -> None:
        if len(specs) != len(seeds) or not seeds:
            raise ValueError("need one ModelSpec and one seed per model, and at least one model")
        structure = specs[0].structure()
        for i, spec in enumerate(specs):
            if spec.structure() != structure:
                raise ValueError(
                    f"models of one stack share widths, normalization, dropout and outputs; "
                    f"model {i} has {spec.structure()}, model 0 {structure}"
                )
        overrides = list(activations) if activations is not None else [None] * len(specs)
        self.spec = specs[0]
        self.k = len(seeds)
        self.n_features = int(n_features)
        self.config = config
        self.device = torch.device(device)
        self.acts = [
            ModelActivation.of(
                module
                if module is not None
                else make_activation(s.activation, learnable_constants=s.learnable_constants)
            )
            for s, module in zip(specs, overrides, strict=True)
        ]
        self.groups = _groups(self.acts)
        self.stages = self.spec.stages()
        self.n_hidden = len(self.stages)
        self.norm = self.spec.norm == "batchnorm"
        self.parametric = self.spec.parametric  # x + a * (act(x) - x) per unit (ModelSpec)
        self.n_consts = max(a.n_constants for a in self.acts)
        self.blocks = self.spec.layout(self.n_features, n_constants=self.n_consts)
        self.generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
        total = sum(self.k * b.numel for b in self.blocks)
        self.flat = torch.empty(total, dtype=torch.float32)
        self._offsets = {}
        offset = 0
        for b in self.blocks:
            self._offsets[b.name] = offset
            offset += self.k * b.numel
        self._init_parameters()
        # each model's dropout key, its generator's next draw after the initial weights
        keys = [
            torch.empty(1, dtype=torch.int64).random_(_INT64_MIN, None, generator=g)
            for g in self.generators
        ]
        self.dropout_keys = torch.stack(keys).to(self.device)  # [K, 1]
        self.dropout_drawn = 0  # SplitMix64 outputs each model has used so far
        self.flat = self.flat.to(self.device)
        self.grad = torch.zeros_like(self.flat)
        self.p = self._views(self.flat)
        self.g = self._views(self.grad)
        self.optimizer = make_optimizer(config, self.flat)
        dev = self.device
        # BatchNorm's running statistics, per stage (None where a stage has no norm)
        self.running_mean = [
            torch.zeros(self.k, 1, s.width, device=dev) if s.norm else None for s in self.stages
        ]
        self.running_var = [
            torch.ones(self.k, 1, s.width, device=dev) if s.norm else None for s in self.stages
        ]
        # non-learnable constants of the fused kernels' programs: [K, L, n] outside the
        # parameters (no optimizer may touch them)
        self.fixed_constants = self._fixed_constants()
        self.steps = 0
        self.alive = [True] * self.k
        dropout = self.spec.dropout
        self.keep_from = round(dropout * 65536) - 32768  # keep when 16 random bits >= this
        self.drop_scale = 1.0 / (1.0 - dropout)
        self.losses_finite: bool | None = None  # set by a fused step
        from symact.training.fused import FusedStep  # the accelerator reads this class

        self.fused = FusedStep.create(self)

    @property
    def backend(self) -> str:
        """``"fused"`` (C kernels for the element-wise work, see kernels.py) or ``"torch"``."""
        return "fused" if self.fused is not None else "torch"

    # -- parameters ---------------------------------------------------------------------------

    def _views(self, flat: Tensor) -> dict[str, Tensor]:
        return {
            b.name: flat[self._offsets[b.name] : self._offsets[b.name] + self.k * b.numel].view(
                self.k, *b.shape
            )
            for b in self.blocks
        }

    def block(self, name: str) -> ParamBlock:
        return next(b for b in self.blocks if b.name == name)

    def _init_parameters(self) -> None:
        """PyTorch's default init, model by model from its own generator, in nn.Linear's order.

        nn.Linear: weight ``[out, in]`` ~ kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)),
        then bias ~ U(-1/sqrt(in), 1/sqrt(in)); BatchNorm: weight 1, bias 0; activation
        constants: the formula's values. The bounds are computed with the same float
        expressions as ``torch.nn.init``, so that a generator in the state of
        ``torch.manual_seed(seed)`` gives ``to_module()``'s exact numbers.
        """
        views = self._views(self.flat)
        gain = math.sqrt(2.0 / (1 + math.sqrt(5) ** 2))
        linears = [i for i, s in enumerate(self.stages) if s.linear] + [self.n_hidden]
        for k, gen in enumerate(self.generators):
            for i in linears:
                w = views[f"W{i}"][k]  # [in, out]
                fan_in = w.shape[0]
                w_bound = math.sqrt(3.0) * (gain / math.sqrt(fan_in))
                weight = torch.empty(w.shape[1], fan_in).uniform_(-w_bound, w_bound, generator=gen)
                w.copy_(weight.T)
                b_bound = 1 / math.sqrt(fan_in)
                views[f"b{i}"][k].uniform_(-b_bound, b_bound, generator=gen)
        for i, stage in enumerate(self.stages):
            if stage.norm:
                views[f"gamma{i}"].fill_(1.0)
                views[f"beta{i}"].fill_(0.0)
            if self.parametric and stage.act:
                views[f"a{i}"].fill_(1.0)  # the parametric form starts as the activation
            if self.n_consts and stage.act:
                views[f"c{i}"].zero_()
                for k, act in enumerate(self.acts):
                    if act.learnable:
                        views[f"c{i}"][k, : act.n_constants] = torch.tensor(act.formula.constants)

    def _fixed_constants(self) -> Tensor:
        width = max((len(a.program.constants) for a in self.acts if a.program), default=0)
        fixed = torch.zeros(self.k, self.n_hidden, max(width, 1))
        for k, act in enumerate(self.acts):
            if act.program is not None and not act.learnable and act.program.constants:
                fixed[k, :, : len(act.program.constants)] = torch.tensor(act.program.constants)
        return fixed

    def constants(self, k: int, layer: int) -> Tensor:
        """Model k's activation constants in hidden layer ``layer`` (learnable or fixed)."""
        act = self.acts[k]
        if act.learnable:
            return self.p[f"c{layer}"][k, : act.n_constants]
        n = len(act.program.constants) if act.program is not None else 0
        return self.fixed_constants[k, layer, :n]

    # -- dropout --------------------------------------------------------------------------

    def draw_keep_masks(self, batch: int) -> list[Tensor | None] | None:
        """Each model's dropout factors for this step: one ``[K, batch, w]`` per stage (None
        for a stage without dropout), each value 0 or ``1 / (1 - p)``.

        Model k's dropout bits are the SplitMix64 stream of its own key (drawn from its own
        generator at construction): output ``n`` is ``mix(key + n * GOLDEN)``, and a step takes
        the next ``ceil(batch * sum(widths) / 4)`` outputs. Read as int16, the first
        ``batch * w0`` values are the first dropout stage's units (row-major), the next
        ``batch * w1`` the second's, and so on; a unit is kept when its value is at or above
        ``self.keep_from``.
        The stream is counter-based, so all models' bits are computed at once in vectorized
        integer ops, and the fused kernels compute the same bits in C.
        """
        if self.spec.dropout == 0.0:
            return None
        n64 = -(-sum(batch * s.width for s in self.stages if s.drop) // 4)
        bits = splitmix64(self.dropout_keys, self.dropout_drawn, n64, self.device)
        self.dropout_drawn += n64
        r16 = bits.view(torch.int16)
        masks: list[Tensor | None] = []
        off = 0
        for stage in self.stages:
            if not stage.drop:
                masks.append(None)
                continue
            size = batch * stage.width
            keep = r16[:, off : off + size].view(self.k, batch, stage.width) >= self.keep_from
            masks.append(keep.float().mul_(self.drop_scale))
            off += size
        return masks

    # -- one optimization step ------------------------------------------------------------

    def train_step(self, x: Tensor, y: Tensor) -> Tensor:
        """Forward and backward for all K models on their batches; returns losses ``[K]``.

        ``x``: ``[K, B, d]``; ``y``: ``[K, B, 1]`` float, 0/1 labels or class indices.
        Gradients land in ``self.grad`` for the caller to inspect before :meth:`optimizer_step`;
        running BatchNorm statistics are updated.
        """
        if self.fused is not None:
            return self.fused.step(x, y)
        spec, batch = self.spec, x.shape[1]
        masks = self.draw_keep_masks(batch)
        saved = []
        outputs: list[Tensor] = []
        h = x
        for i, stage in enumerate(self.stages):
            mask = masks[i] if masks is not None else None
            b = self.p[f"b{i}"] if stage.linear else None
            if stage.norm:
                # the pre-BN bias cancels (module docstring)
                zc = bmm(h, self.p[f"W{i}"]) if stage.linear else h.clone()
                mean = zc.mean(1, keepdim=True)
                zc.sub_(mean)
                var = torch.mul(zc, zc).mean(1, keepdim=True)
                rstd = (var + spec.bn_eps).rsqrt_()
                bn_scale = self.p[f"gamma{i}"] * rstd
                yv = torch.addcmul(self.p[f"beta{i}"], zc, bn_scale)
                m = spec.bn_momentum
                self.running_mean[i].lerp_(mean + b if b is not None else mean, m)
                self.running_var[i].mul_(1 - m).add_(var, alpha=m * batch / (batch - 1))
            else:
                zc, rstd, bn_scale = None, None, None
                yv = torch.baddbmm(b, h, self.p[f"W{i}"])
            if stage.act and self.parametric:
                h_next, graph = self._parametric_forward(i, yv, mask)
            elif stage.act:
                h_next, graph = self._activation_forward(i, yv, mask)
            else:
                h_next, graph = (yv if mask is None else yv * mask), None
            saved.append((h, zc, rstd, bn_scale, graph, h_next, mask))
            h = h_next if stage.skip is None else h_next + outputs[stage.skip]
            outputs.append(h)
        losses, dh = self._output_layer(h, y)
        pending: dict[int, Tensor] = {}  # gradients that skips send to earlier stages
        for i in reversed(range(self.n_hidden)):
            stage = self.stages[i]
            if i in pending:
                dh = dh + pending.pop(i)
            if stage.skip is not None:
                pending[stage.skip] = dh
            h_prev, zc, rstd, bn_scale, graph, h_out, mask = saved[i]
            if stage.act and self.parametric:
                dy = self._parametric_backward(i, graph, mask, dh)
            elif stage.act:
                dy = self._activation_backward(i, graph, h_out, mask, dh)
            else:
                dy = dh if mask is None else dh * mask
            if stage.norm:
                gbeta, ggamma = self.g[f"beta{i}"], self.g[f"gamma{i}"]
                torch.sum(dy, 1, keepdim=True, out=gbeta)
                torch.sum(dy * zc, 1, keepdim=True, out=ggamma)
                ggamma.mul_(rstd)
                # dz = gamma*rstd * (dy - mean(dy) - xhat * mean(dy * xhat)), xhat = zc * rstd
                coef_z = bn_scale * rstd * ggamma * (-1.0 / batch)
                coef_0 = bn_scale * gbeta * (-1.0 / batch)
                dz = torch.addcmul(coef_0, zc, coef_z).addcmul_(dy, bn_scale)
                # the pre-BN bias's gradient stays exactly zero (module docstring)
            else:
                dz = dy
                if not stage.fixed_bias:  # else its gradient stays exactly zero
                    torch.sum(dz, 1, keepdim=True, out=self.g[f"b{i}"])
            if stage.linear:
                bmm(h_prev.transpose(1, 2), dz, out=self.g[f"W{i}"])
                if i > 0:
                    dh = bmm(dz, self.p[f"W{i}"].transpose(1, 2))
            else:
                dh = dz
        return losses.detach()

    def _output_layer(self, h: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """The output Linear and the loss, forward and backward: losses ``[K]`` and the
        gradient at ``h``; the output weight and bias gradients land in ``self.grad``."""
        n, batch = self.n_hidden, h.shape[1]
        W, b = self.p[f"W{n}"], self.p[f"b{n}"]
        logits = torch.baddbmm(b, h, W)  # [K, B, C]
        if self.spec.n_outputs == 1:
            losses = F.binary_cross_entropy_with_logits(logits, y, reduction="none").mean((1, 2))
            dlogits = torch.sigmoid(logits).sub_(y).div_(batch)
        else:
            target = y[..., 0].long()
            logp = torch.log_softmax(logits, dim=2)
            losses = -logp.gather(2, target.unsqueeze(2)).mean((1, 2))
            dlogits = logp.exp_()
            dlogits.scatter_add_(2, target.unsqueeze(2), torch.full_like(logits[..., :1], -1.0))
            dlogits.div_(batch)
        bmm(h.transpose(1, 2), dlogits, out=self.g[f"W{n}"])
        torch.sum(dlogits, 1, keepdim=True, out=self.g[f"b{n}"])
        return losses, bmm(dlogits, W.transpose(1, 2))

    def _activation_forward(self, layer: int, yv: Tensor, mask: Tensor | None):
        """``h = act(yv) * mask``, each group's activation on its slice of models, and what
        each group's backward needs (see :meth:`_activation_backward`)."""
        h = torch.empty_like(yv)
        graph = []
        for g in self.groups:
            sl = slice(g.start, g.stop)
            x, m = yv[sl], (None if mask is None else mask[sl])
            act = g.act
            if type(act.module) is nn.ReLU:
                torch.clamp_min(x, 0.0, out=h[sl])
                saved = None
            elif act.learnable:
                with torch.enable_grad():
                    leaf = x.detach().requires_grad_()
                    consts = self.p[f"c{layer}"][sl, : act.n_constants].detach().requires_grad_()
                    fn = compile_torch_learnable(act.formula)
                    shaped = [consts[:, j].view(-1, 1, 1) for j in range(act.n_constants)]
                    out = fn((leaf, shaped))
                h[sl] = out.detach()
                saved = (out, leaf, consts)
            elif type(act.module) in _KNOWN_BACKWARD:
                out = act.module(x)
                h[sl] = out
                saved = (x, out)
            else:
                with torch.enable_grad():
                    leaf = x.detach().requires_grad_()
                    out = act.module(leaf)
                    if out.requires_grad:
                        saved = torch.autograd.grad(out, leaf, torch.ones_like(out))[0]
                    else:  # an output that does not depend on the input: zero derivative
                        saved = torch.zeros_like(out)
                h[sl] = out.detach()
            if m is not None:
                h[sl] *= m
            graph.append(saved)
        return h, graph

    def _activation_backward(self, layer: int, graph, h: Tensor, mask: Tensor | None, dh: Tensor):
        """The gradient at the activation's input from ``dh``, the gradient at ``h``."""
        dy = torch.empty_like(dh)
        for g, saved in zip(self.groups, graph, strict=True):
            sl = slice(g.start, g.stop)
            da = dh[sl] if mask is None else dh[sl] * mask[sl]
            act = g.act
            if saved is None:  # ReLU: the gradient passes where h > 0 (kept and y > 0)
                dy[sl] = torch.where(h[sl] > 0, da, 0.0)
            elif act.learnable:
                out, leaf, consts = saved
                d_in, d_c = torch.autograd.grad(out, (leaf, consts), da)
                dy[sl] = d_in
                self.g[f"c{layer}"][sl, : act.n_constants] = d_c
            elif type(act.module) in _KNOWN_BACKWARD:
                x, out = saved
                dy[sl] = _KNOWN_BACKWARD[type(act.module)](act.module, da, x, out)
            else:  # saved is act'(y)
                dy[sl] = da * saved
        return dy

    def _parametric_forward(self, layer: int, yv: Tensor, mask: Tensor | None):
        """``h = (yv + a * (act(yv) - yv)) * mask`` (``ModelSpec.parametric``), and what
        :meth:`_parametric_backward` needs."""
        f, graph = self._activation_forward(layer, yv, None)
        h = torch.addcmul(yv, self.p[f"a{layer}"], f - yv)
        if mask is not None:
            h.mul_(mask)
        return h, (graph, f, yv)

    def _parametric_backward(self, layer: int, saved, mask: Tensor | None, dh: Tensor):
        """The gradient at the activation's input, ``g * (1 - a + a * act'(yv))``; ``a``'s
        gradient ``sum over the batch of g * (act(yv) - yv)`` lands in ``self.grad``."""
        graph, f, yv = saved
        g = dh if mask is None else dh * mask
        a = self.p[f"a{layer}"]
        torch.sum(g * (f - yv), 1, keepdim=True, out=self.g[f"a{layer}"])
        dy = self._activation_backward(layer, graph, f, None, g * a)
        return dy.add_(g - g * a)

    # -- the optimizer and failed models --------------------------------------------------

    def optimizer_step(self) -> None:
        self.steps += 1
        self.optimizer.step(self.grad)

    def _model_index(self, k: int) -> Tensor:
        parts = [
            torch.arange(
                self._offsets[b.name] + k * b.numel, self._offsets[b.name] + (k + 1) * b.numel
            )
            for b in self.blocks
        ]
        return torch.cat(parts).to(self.device)

    def freeze(self, k: int) -> None:
        """Stop updating model k for good: zero its gradient and optimizer state."""
        self.alive[k] = False
        index = self._model_index(k)
        self.grad.index_fill_(0, index, 0.0)
        self.optimizer.reset(index)

    def zero_frozen_grads(self) -> None:
        dead = [k for k, ok in enumerate(self.alive) if not ok]
        if dead:
            idx = torch.tensor(dead, device=self.device)
            for view in self.g.values():
                view.index_fill_(0, idx, 0.0)

    def nonfinite_grad_models(self) -> list[int]:
        if self.fused is not None:
            if self.fused.all_finite(self.grad):
                return []
        elif bool(torch.isfinite(self.grad.sum())):  # one cheap pass; NaN/inf anywhere shows
            return []
        bad = torch.zeros(self.k, dtype=torch.bool, device=self.device)
        for view in self.g.values():
            bad |= ~torch.isfinite(view.reshape(self.k, -1)).all(1)
        return [int(k) for k in torch.nonzero(bad).flatten()]

    # -- inference and export -------------------------------------------------------------

    @torch.no_grad()
    def predict_logits(self, k: int, x: Tensor) -> Tensor:
        """Model k in eval mode (running statistics, no dropout) on ``x [n, d]``: ``[n, C]``."""
        p, h, spec = self.p, x, self.spec
        act = self.acts[k]
        outputs: list[Tensor] = []
        for i, stage in enumerate(self.stages):
            z = torch.addmm(p[f"b{i}"][k], h, p[f"W{i}"][k]) if stage.linear else h
            if stage.norm:
                scale = p[f"gamma{i}"][k] * (self.running_var[i][k] + spec.bn_eps).rsqrt()
                z = (z - self.running_mean[i][k]) * scale + p[f"beta{i}"][k]
            if not stage.act:
                h = z
            elif act.learnable:
                consts = [c.view(1, 1) for c in self.constants(k, i)]
                h = compile_torch_learnable(act.formula)((z, consts))
            else:
                h = act.module(z)
            if stage.act and self.parametric:
                h = torch.addcmul(z, p[f"a{i}"][k], h - z)
            if stage.skip is not None:
                h = h + outputs[stage.skip]
            outputs.append(h)
        n = self.n_hidden
        return torch.addmm(p[f"b{n}"][k], h, p[f"W{n}"][k])

    @torch.no_grad()
    def validation_losses(self, x: Tensor, y: Tensor) -> Tensor:
        """Every model in eval mode on its rows, one batched forward: the mean loss ``[K]``
        (the training loss: cross-entropy from the logits). ``x``: ``[K or 1, n, d]``,
        ``y``: ``[K or 1, n, 1]`` (one set of rows broadcast to every model)."""
        logits = self.stacked_logits(x.expand(self.k, -1, -1))
        y = y.expand(self.k, -1, -1)
        if self.spec.n_outputs == 1:
            return F.binary_cross_entropy_with_logits(logits, y, reduction="none").mean((1, 2))
        logp = torch.log_softmax(logits, dim=2)
        return -logp.gather(2, y.long()).mean((1, 2))

    @torch.no_grad()
    def stacked_logits(self, x: Tensor) -> Tensor:
        """All models in eval mode on ``x [K, n, d]``: ``[K, n, C]`` (:meth:`predict_logits`
        for every model at once)."""
        p, h, spec = self.p, x, self.spec
        outputs: list[Tensor] = []
        for i, stage in enumerate(self.stages):
            if stage.norm:  # eval-mode BatchNorm is affine: folded into the weights
                scale = p[f"gamma{i}"] * (self.running_var[i] + spec.bn_eps).rsqrt()
                shift = torch.addcmul(p[f"beta{i}"], self.running_mean[i], scale, value=-1.0)
                if stage.linear:
                    bias = torch.addcmul(shift, p[f"b{i}"], scale)
                    z = torch.baddbmm(bias, h, p[f"W{i}"] * scale)
                else:
                    z = torch.addcmul(shift, h, scale)
            else:
                z = torch.baddbmm(p[f"b{i}"], h, p[f"W{i}"]) if stage.linear else h
            h = self._eval_activation(i, z) if stage.act else z
            if stage.act and self.parametric:
                h = torch.addcmul(z, p[f"a{i}"], h - z)
            if stage.skip is not None:
                h = h + outputs[stage.skip]
            outputs.append(h)
        n = self.n_hidden
        return torch.baddbmm(p[f"b{n}"], h, p[f"W{n}"])

    def _eval_activation(self, layer: int, z: Tensor) -> Tensor:
        h = torch.empty_like(z)
        for g in self.groups:
            sl, act = slice(g.start, g.stop), g.act
            if type(act.module) is nn.ReLU:
                torch.clamp_min(z[sl], 0.0, out=h[sl])
            elif act.learnable:
                consts = self.p[f"c{layer}"][sl, : act.n_constants]
                shaped = [consts[:, j].view(-1, 1, 1) for j in range(act.n_constants)]
                h[sl] = compile_torch_learnable(act.formula)((z[sl], shaped))
            else:
                h[sl] = act.module(z[sl])
        return h

    def learned_formulas(self, k: int) -> tuple[str, ...]:
        """Model k's activation per stage with an activation, with its learned constants
        (canonical prefix text); empty when its constants are not learnable."""
        act = self.acts[k]
        if not act.learnable:
            return ()
        return tuple(
            str(act.formula.with_constants(self.constants(k, i).tolist()))
            for i, stage in enumerate(self.stages)
            if stage.act
        )

    def state_dict(self, k: int) -> dict[str, Tensor]:
        """Model k's parameters and buffers under ``ModelSpec.to_module()``'s keys."""
        out: dict[str, Tensor] = {}
        for b in self.blocks:
            t = self.p[b.name][k]
            if b.name.startswith("c"):  # activation constants: one scalar parameter each
                for j in range(self.acts[k].n_constants):
                    out[f"{b.state_key}{j}"] = t[j].clone().cpu()
                continue
            t = t.T if b.transpose else t.reshape(-1)
            out[b.state_key] = t.contiguous().cpu().clone()
        for i, stage in enumerate(self.stages):
            if stage.norm:
                out[f"hidden.{i}.norm.running_mean"] = self.running_mean[i][k].flatten().cpu()
                out[f"hidden.{i}.norm.running_var"] = self.running_var[i][k].flatten().cpu()
                out[f"hidden.{i}.norm.num_batches_tracked"] = torch.tensor(self.steps)
        return {name: t.clone() for name, t in out.items()}
