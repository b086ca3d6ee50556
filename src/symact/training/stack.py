"""K independent networks on stacked parameters, trained together: the canonical training step.

The paper's benchmark, and an activation search even more so, is many tiny trainings; one at
a time, each is dominated by framework overhead, not arithmetic. Here K models that share a
:class:`~symact.models.ModelSpec` structure (widths, normalization, dropout, outputs; the
activation may differ per model) live in one flat parameter buffer laid out by
``ModelSpec.layout`` (``W[k]`` of shape ``[in, out]``), so one ``torch.bmm`` runs a layer
for all of them, and one optimizer update (``optimizers.py``) updates all of them.

:class:`TorchStep` is the canonical definition of a training step, in torch ops: forward and
backward of Linear, BatchNorm, dropout and the loss written out by hand; only the
activation goes through autograd (one small graph per group of models with the same
activation). On the CPU, ``fused.py``'s ``FusedStep`` runs the same step with everything but
the matmuls in C kernels (``kernels.py``): the same function with the same random draws,
tested equal to this one to float32 rounding; this path stays for CUDA, for activation
modules that are not formulas, and where no C compiler works. Both steps read the stack's
:class:`~symact.training.state.StackStructure` and update the
:class:`~symact.training.state.TrainState` handed to them (``state.py``); a
:class:`StackedModel` holds the two values and the step chosen for it, and delegates.

Independence, model by model: each model has its own ``torch.Generator`` seeded with its
seed, and draws, in this order, its initial weights (as ``nn.Linear`` would), its dropout
key, then per epoch its data permutation; its dropout bits are the SplitMix64 stream of its
key, consumed in order (:meth:`TorchStep.draw_keep_masks`). Nothing it draws depends on
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

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from symact.formula.activation import make_activation
from symact.formula.compile import compile_torch_learnable
from symact.models.spec import ModelSpec, ParamBlock
from symact.training.config import TrainConfig
from symact.training.fused import FusedStep
from symact.training.ops import bmm, eval_activation, splitmix64
from symact.training.state import ModelActivation, StackStructure, TrainState

# Element-wise activations whose derivative ATen provides directly: no autograd graph needed.
# backward(act, grad, input, output) -> gradient at the input
_aten = torch.ops.aten
_KNOWN_BACKWARD = {
    nn.GELU: lambda act, g, x, out: _aten.gelu_backward(g, x, approximate=act.approximate),
    nn.SiLU: lambda act, g, x, out: _aten.silu_backward(g, x),
    nn.Tanh: lambda act, g, x, out: _aten.tanh_backward(g, out),
    nn.Sigmoid: lambda act, g, x, out: _aten.sigmoid_backward(g, out),
}


class TorchStep:
    """The training step in torch ops (the module docstring): CUDA, activation modules that
    are not formulas, or no C compiler. It reads a :class:`StackStructure` and updates the
    :class:`TrainState` handed to it; it keeps nothing of its own between steps."""

    name = "torch"

    def __init__(self, structure: StackStructure) -> None:
        self.structure = structure
        self.spec, self.stages, self.groups = structure.spec, structure.stages, structure.groups
        self.k, self.n_hidden, self.device = structure.k, structure.n_hidden, structure.device
        self.keep_from, self.drop_scale = structure.keep_from, structure.drop_scale

    # -- dropout --------------------------------------------------------------------------

    def draw_keep_masks(self, state: TrainState, batch: int) -> list[Tensor | None] | None:
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
        bits = splitmix64(state.dropout_keys, state.dropout_drawn, n64, self.device)
        state.dropout_drawn += n64
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

    def step(self, state: TrainState, x: Tensor, y: Tensor) -> Tensor:
        """Forward and backward for all K models on their batches; returns losses ``[K]``.

        ``x``: ``[K, B, d]``; ``y``: ``[K, B, 1]`` float, 0/1 labels or class indices.
        Gradients land in ``state.grad`` for the caller to inspect before the optimizer
        step; running BatchNorm statistics are updated.
        """
        spec, batch = self.spec, x.shape[1]
        masks = self.draw_keep_masks(state, batch)
        saved = []
        outputs: list[Tensor] = []
        h = x
        for i, stage in enumerate(self.stages):
            mask = masks[i] if masks is not None else None
            b = state.p[f"b{i}"] if stage.linear else None
            if stage.norm:
                # the pre-BN bias cancels (module docstring)
                zc = bmm(h, state.p[f"W{i}"]) if stage.linear else h.clone()
                mean = zc.mean(1, keepdim=True)
                zc.sub_(mean)
                var = torch.mul(zc, zc).mean(1, keepdim=True)
                rstd = (var + spec.bn_eps).rsqrt_()
                bn_scale = state.p[f"gamma{i}"] * rstd
                yv = torch.addcmul(state.p[f"beta{i}"], zc, bn_scale)
                m = spec.bn_momentum
                state.running_mean[i].lerp_(mean + b if b is not None else mean, m)
                state.running_var[i].mul_(1 - m).add_(var, alpha=m * batch / (batch - 1))
            else:
                zc, rstd, bn_scale = None, None, None
                yv = torch.baddbmm(b, h, state.p[f"W{i}"])
            if stage.act and self.structure.parametric:
                h_next, graph = self._parametric_forward(state, i, yv, mask)
            elif stage.act:
                h_next, graph = self._activation_forward(state, i, yv, mask)
            else:
                h_next, graph = (yv if mask is None else yv * mask), None
            saved.append((h, zc, rstd, bn_scale, graph, h_next, mask))
            h = h_next if stage.skip is None else h_next + outputs[stage.skip]
            outputs.append(h)
        losses, dh = self._output_layer(state, h, y)
        pending: dict[int, Tensor] = {}  # gradients that skips send to earlier stages
        for i in reversed(range(self.n_hidden)):
            stage = self.stages[i]
            if i in pending:
                dh = dh + pending.pop(i)
            if stage.skip is not None:
                pending[stage.skip] = dh
            h_prev, zc, rstd, bn_scale, graph, h_out, mask = saved[i]
            if stage.act and self.structure.parametric:
                dy = self._parametric_backward(state, i, graph, mask, dh)
            elif stage.act:
                dy = self._activation_backward(state, i, graph, h_out, mask, dh)
            else:
                dy = dh if mask is None else dh * mask
            if stage.norm:
                gbeta, ggamma = state.g[f"beta{i}"], state.g[f"gamma{i}"]
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
                    torch.sum(dz, 1, keepdim=True, out=state.g[f"b{i}"])
            if stage.linear:
                bmm(h_prev.transpose(1, 2), dz, out=state.g[f"W{i}"])
                if i > 0:
                    dh = bmm(dz, state.p[f"W{i}"].transpose(1, 2))
            else:
                dh = dz
        return losses.detach()

    def _output_layer(self, state: TrainState, h: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """The output Linear and the loss, forward and backward: losses ``[K]`` and the
        gradient at ``h``; the output weight and bias gradients land in ``state.grad``."""
        n, batch = self.n_hidden, h.shape[1]
        W, b = state.p[f"W{n}"], state.p[f"b{n}"]
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
        bmm(h.transpose(1, 2), dlogits, out=state.g[f"W{n}"])
        torch.sum(dlogits, 1, keepdim=True, out=state.g[f"b{n}"])
        return losses, bmm(dlogits, W.transpose(1, 2))

    def _activation_forward(self, state: TrainState, layer: int, yv: Tensor, mask: Tensor | None):
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
                    consts = state.p[f"c{layer}"][sl, : act.n_constants].detach().requires_grad_()
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

    def _activation_backward(
        self, state: TrainState, layer: int, graph, h: Tensor, mask: Tensor | None, dh: Tensor
    ):
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
                state.g[f"c{layer}"][sl, : act.n_constants] = d_c
            elif type(act.module) in _KNOWN_BACKWARD:
                x, out = saved
                dy[sl] = _KNOWN_BACKWARD[type(act.module)](act.module, da, x, out)
            else:  # saved is act'(y)
                dy[sl] = da * saved
        return dy

    def _parametric_forward(self, state: TrainState, layer: int, yv: Tensor, mask: Tensor | None):
        """``h = (yv + a * (act(yv) - yv)) * mask`` (``ModelSpec.parametric``), and what
        :meth:`_parametric_backward` needs."""
        f, graph = self._activation_forward(state, layer, yv, None)
        h = torch.addcmul(yv, state.p[f"a{layer}"], f - yv)
        if mask is not None:
            h.mul_(mask)
        return h, (graph, f, yv)

    def _parametric_backward(
        self, state: TrainState, layer: int, saved, mask: Tensor | None, dh: Tensor
    ):
        """The gradient at the activation's input, ``g * (1 - a + a * act'(yv))``; ``a``'s
        gradient ``sum over the batch of g * (act(yv) - yv)`` lands in ``state.grad``."""
        graph, f, yv = saved
        g = dh if mask is None else dh * mask
        a = state.p[f"a{layer}"]
        torch.sum(g * (f - yv), 1, keepdim=True, out=state.g[f"a{layer}"])
        dy = self._activation_backward(state, layer, graph, f, None, g * a)
        return dy.add_(g - g * a)

    # -- what the trainer asks of either path ----------------------------------------------

    def gather(
        self, perms: Tensor, start: int, rows: int, x_all: Tensor, y_all: Tensor,
        x_buf: Tensor, y_buf: Tensor,
    ) -> None:  # fmt: skip
        """Rows ``perms[:, start : start + rows]`` of the training data into the first
        ``len(perms) * rows`` rows of the batch buffers."""
        flat_idx = perms[:, start : start + rows].reshape(-1)
        m = perms.shape[0]
        torch.index_select(x_all, 0, flat_idx, out=x_buf[: m * rows])
        torch.index_select(y_all, 0, flat_idx, out=y_buf[: m * rows])

    def losses_finite(self, losses: Tensor) -> bool:
        """Whether every model's loss of the last step is finite."""
        return bool(torch.isfinite(losses).all())

    def all_finite(self, t: Tensor) -> bool:
        """Whether ``t`` holds no NaN or inf (one cheap pass: NaN/inf anywhere shows)."""
        return bool(torch.isfinite(t.sum()))

    def eval_hidden(
        self, state: TrainState, layer: int, z: Tensor, weight: Tensor | None, bias: Tensor | None
    ) -> Tensor:
        """Hidden layer ``layer`` in eval mode: every model's activation of ``z @ weight +
        bias`` (of ``z`` itself without a weight); BatchNorm is folded into ``weight``."""
        if weight is not None:
            z = torch.baddbmm(bias, z, weight)
        return eval_activation(self.groups, state.p, layer, z)


class StackedModel:
    """K models of one ``ModelSpec`` structure: their :class:`StackStructure`, their
    :class:`TrainState`, and the training path that steps it (``path``: :class:`TorchStep`
    or the fused kernels' :class:`~symact.training.fused.FusedStep`, chosen once).

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
        self.config = config
        acts = [
            ModelActivation.of(
                module
                if module is not None
                else make_activation(s.activation, learnable_constants=s.learnable_constants)
            )
            for s, module in zip(specs, overrides, strict=True)
        ]
        self.structure = StackStructure.of(self.spec, n_features, acts, device)
        self.k, self.n_features = self.structure.k, self.structure.n_features
        self.device, self.acts = self.structure.device, self.structure.acts
        self.stages, self.n_hidden = self.structure.stages, self.structure.n_hidden
        self.state = TrainState.initial(self.structure, seeds, config)
        self.path: TorchStep | FusedStep = FusedStep.create(self.structure) or TorchStep(
            self.structure
        )

    @property
    def backend(self) -> str:
        """``"fused"`` (C kernels for the element-wise work, see kernels.py) or ``"torch"``."""
        return self.path.name

    def block(self, name: str) -> ParamBlock:
        return self.structure.block(name)

    def constants(self, k: int, layer: int) -> Tensor:
        """Model k's activation constants in hidden layer ``layer`` (learnable or fixed)."""
        return self.structure.constants(self.state.p, k, layer)

    # -- training, on the path chosen at construction -------------------------------------

    def train_step(self, x: Tensor, y: Tensor) -> Tensor:
        """Forward and backward for all K models on their batches; returns losses ``[K]``.

        ``x``: ``[K, B, d]``; ``y``: ``[K, B, 1]`` float, 0/1 labels or class indices.
        Gradients land in ``state.grad`` for the caller to inspect before
        :meth:`optimizer_step`; running BatchNorm statistics are updated.
        """
        return self.path.step(self.state, x, y)

    def gather(self, perms, start, rows, x_all, y_all, x_buf, y_buf) -> None:
        """Each model's next batch (rows ``perms[:, start : start + rows]``) into the batch
        buffers."""
        self.path.gather(perms, start, rows, x_all, y_all, x_buf, y_buf)

    def losses_finite(self, losses: Tensor) -> bool:
        return self.path.losses_finite(losses)

    def optimizer_step(self) -> None:
        self.state.steps += 1
        self.state.optimizer.step(self.state.grad)

    def freeze(self, k: int) -> None:
        """Stop updating model k for good: zero its gradient and optimizer state."""
        self.state.alive[k] = False
        index = self.structure.model_index(k)
        self.state.grad.index_fill_(0, index, 0.0)
        self.state.optimizer.reset(index)

    def zero_frozen_grads(self) -> None:
        dead = [k for k, ok in enumerate(self.state.alive) if not ok]
        if dead:
            idx = torch.tensor(dead, device=self.device)
            for view in self.state.g.values():
                view.index_fill_(0, idx, 0.0)

    def nonfinite_grad_models(self) -> list[int]:
        if self.path.all_finite(self.state.grad):
            return []
        bad = torch.zeros(self.k, dtype=torch.bool, device=self.device)
        for view in self.state.g.values():
            bad |= ~torch.isfinite(view.reshape(self.k, -1)).all(1)
        return [int(k) for k in torch.nonzero(bad).flatten()]

    # -- inference and export -------------------------------------------------------------

    @torch.no_grad()
    def predict_logits(self, k: int, x: Tensor) -> Tensor:
        """Model k in eval mode (running statistics, no dropout) on ``x [n, d]``: ``[n, C]``."""
        p, h, spec = self.state.p, x, self.spec
        act = self.acts[k]
        outputs: list[Tensor] = []
        for i, stage in enumerate(self.stages):
            z = torch.addmm(p[f"b{i}"][k], h, p[f"W{i}"][k]) if stage.linear else h
            if stage.norm:
                scale = p[f"gamma{i}"][k] * (self.state.running_var[i][k] + spec.bn_eps).rsqrt()
                z = (z - self.state.running_mean[i][k]) * scale + p[f"beta{i}"][k]
            if not stage.act:
                h = z
            elif act.learnable:
                consts = [c.view(1, 1) for c in self.constants(k, i)]
                h = compile_torch_learnable(act.formula)((z, consts))
            else:
                h = act.module(z)
            if stage.act and self.structure.parametric:
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
        p, h, spec = self.state.p, x, self.spec
        outputs: list[Tensor] = []
        for i, stage in enumerate(self.stages):
            weight = bias = None  # the stage's input is z, or z = h @ weight + bias
            if stage.norm:  # eval-mode BatchNorm is affine: folded into the weights
                scale = p[f"gamma{i}"] * (self.state.running_var[i] + spec.bn_eps).rsqrt()
                shift = torch.addcmul(p[f"beta{i}"], self.state.running_mean[i], scale, value=-1.0)
                if stage.linear:
                    weight, bias, z = p[f"W{i}"] * scale, torch.addcmul(shift, p[f"b{i}"], scale), h
                else:
                    z = torch.addcmul(shift, h, scale)
            elif stage.linear:
                weight, bias, z = p[f"W{i}"], p[f"b{i}"], h
            else:
                z = h
            if stage.act and self.structure.parametric:
                # the form needs the activation's input: computed here, blended after
                if weight is not None:
                    z = torch.baddbmm(bias, z, weight)
                h = self.path.eval_hidden(self.state, i, z, None, None)
                h = torch.addcmul(z, p[f"a{i}"], h - z)
            elif stage.act:
                h = self.path.eval_hidden(self.state, i, z, weight, bias)
            else:
                h = torch.baddbmm(bias, z, weight) if weight is not None else z
            if stage.skip is not None:
                h = h + outputs[stage.skip]
            outputs.append(h)
        n = self.n_hidden
        # as (W^T h^T)^T: a few output columns make ``h @ W`` a slow matrix-vector product
        # per model (3x the time of this form at one output)
        return torch.baddbmm(p[f"b{n}"].mT, p[f"W{n}"].mT, h.mT).mT

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
        for b in self.structure.blocks:
            t = self.state.p[b.name][k]
            if b.name.startswith("c"):  # activation constants: one scalar parameter each
                for j in range(self.acts[k].n_constants):
                    out[f"{b.state_key}{j}"] = t[j].clone().cpu()
                continue
            t = t.T if b.transpose else t.reshape(-1)
            out[b.state_key] = t.contiguous().cpu().clone()
        for i, stage in enumerate(self.stages):
            if stage.norm:
                out[f"hidden.{i}.norm.running_mean"] = self.state.running_mean[i][k].flatten().cpu()
                out[f"hidden.{i}.norm.running_var"] = self.state.running_var[i][k].flatten().cpu()
                out[f"hidden.{i}.norm.num_batches_tracked"] = torch.tensor(self.state.steps)
        return {name: t.clone() for name, t in out.items()}


__all__ = ["ModelActivation", "StackedModel", "TorchStep", "bmm", "splitmix64"]
