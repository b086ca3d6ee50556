"""K independent MLPs on stacked parameters, trained together with batched matmuls.

The paper's benchmark is many tiny trainings; one at a time, each is dominated by Python and
framework overhead, not arithmetic. Here K models of the same shape live in stacked tensors
(``W[k]`` of shape ``[in, out]``), so one ``torch.bmm`` runs a layer for all of them. Forward
and backward are written by hand (Linear, BatchNorm, dropout, BCE); only the activation, an
arbitrary element-wise ``nn.Module``, goes through autograd, one small graph per step.

Independence, model by model: each model has its own ``torch.Generator`` seeded with its
task's seed, and draws, in this order, its initial weights (as ``nn.Linear`` would), its
dropout key, then per epoch its data permutation; its dropout bits are the SplitMix64 stream
of its key, consumed in order (:meth:`StackedMLP.draw_keep_masks`). Nothing it draws depends
on the stack it is in. BatchNorm statistics are per model (reductions run over the batch axis only),
and Adam is element-wise, so a flat Adam over all stacked parameters is per-model Adam (all
models take the same number of steps). A model trained in a stack therefore equals the same
model trained alone up to float32 rounding (tests/training check this).

Three choices that differ from a literal ``nn.Sequential`` + ``torch.optim.Adam`` run, both
exact in real arithmetic or in distribution up to 3e-6:

* Loss: BCE on the sigmoid output is computed as BCE-with-logits (same function, no float32
  saturation); its gradient with respect to the logit is ``(sigmoid(z) - y) / batch``.
* The bias of a Linear layer followed by BatchNorm has an exactly zero gradient in training
  mode (BatchNorm subtracts the batch mean). We use that exact zero; PyTorch computes the
  float32 rounding noise of that zero and Adam, which normalizes gradients, turns it into a
  tiny random walk of the bias that only shifts BatchNorm's running mean along with it.
* Dropout keeps a unit when 16 random bits (from the model's own SplitMix64 stream) are at or
  above ``round(p * 65536)`` of 65536: a drop probability of 0.3000031 for p = 0.3. Drawing
  one float per unit instead (as ``nn.Dropout`` does) is 3.3x slower on CPU (2.9 vs 0.87 ns
  per unit measured), and the draws are a large share of a small model's step.

On the CPU, everything but the matmuls runs by default in fused C kernels (``kernels.py``,
``fused.c``, ``common.c``): per hidden layer two passes forward and two backward instead of
~20 torch ops, the output layer, Adam and the batch gather; the activation's derivative
comes from its formula (``symact.formula.ccode``), not autograd.
The torch path below stays for CUDA, for activations with no C form, and where no C compiler
works; both compute the same function with the same random draws.

Speed notes for the torch path (2-core CPU, measured): elementwise passes, not matmuls,
dominate the Light models, so masks are float (``a * mask`` is vectorized, ``torch.where``
is not) and ReLU's backward reads the dropped-out output directly. ``torch.bmm`` splits its
batch over threads, so stacks whose size is not a multiple of the thread count run their
remainder models as single matmuls (3 models on 2 threads otherwise cost as much as 4).
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from symact.training import kernels as fused
from symact.training.config import TrainConfig

_INT64_MIN = -(2**63)


@dataclass(frozen=True)
class _FusedLayer:
    """One hidden layer's buffers and kernel arguments for a batch size (fused path)."""

    z: Tensor  # pre-BatchNorm [K, B, w]
    h: Tensor  # output after activation and dropout
    dh: Tensor  # gradient at h, overwritten by the gradient at z
    keep: tuple  # the other buffers the arguments point into (deriv, mean, var)
    forward_head: tuple  # symact_forward's arguments before `drawn` (after k0, k1) ...
    forward_tail: tuple  # ... and after it
    backward_args: tuple


@dataclass(frozen=True)
class _FusedPlan:
    layers: list[_FusedLayer]
    draws: int  # SplitMix64 outputs a step takes per model
    loss: Tensor  # [K] float64, written by symact_output
    output_head: tuple  # symact_output's arguments before y's pointer ...
    output_tail: tuple  # ... and after it


@dataclass(frozen=True)
class _Block:
    """One stacked parameter tensor inside the flat buffer: ``flat[offset:offset+K*numel]``."""

    name: str
    shape: tuple[int, ...]  # per model
    offset: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def _layout(n_features: int, widths: Sequence[int], k: int) -> tuple[list[_Block], int]:
    """Blocks in ``nn.Sequential`` parameter order; weights stored ``[in, out]`` for bmm."""
    dims = (n_features, *widths, 1)
    blocks: list[_Block] = []
    offset = 0
    for i, (din, dout) in enumerate(itertools.pairwise(dims)):
        names = [(f"W{i}", (din, dout)), (f"b{i}", (1, dout))]
        if i < len(widths):
            names += [(f"gamma{i}", (1, dout)), (f"beta{i}", (1, dout))]
        for name, shape in names:
            blocks.append(_Block(name, shape, offset))
            offset += k * math.prod(shape)
    return blocks, offset


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


def _bmm(a: Tensor, b: Tensor, out: Tensor | None = None) -> Tensor:
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


def _activation_key(act: nn.Module) -> tuple[type, str]:
    """Modules of one type with one repr compute the same function (they have no state)."""
    return (type(act), repr(act))


def _check_activation(act: nn.Module) -> None:
    if not isinstance(act, nn.Module):
        raise TypeError(
            f"activation must be an nn.Module (e.g. nn.ReLU() or make_activation('gelu')), "
            f"got {type(act).__name__}"
        )
    if any(p.requires_grad for p in act.parameters()):
        raise ValueError(
            f"activation {act!r} has trainable parameters; the stacked trainer trains only the "
            "MLP's own weights. Use fixed constants (learnable_constants=False)."
        )


class StackedMLP:
    """K models of the protocol's MLP, their optimizer state and their random generators.

    ``activations[k]`` and ``seeds[k]`` belong to model k. Models with the same activation
    are run as one slice (one autograd graph per slice and layer).
    """

    def __init__(
        self,
        n_features: int,
        widths: Sequence[int],
        activations: Sequence[nn.Module],
        seeds: Sequence[int],
        config: TrainConfig,
        device: torch.device,
    ) -> None:
        if len(activations) != len(seeds) or not seeds:
            raise ValueError("need one activation and one seed per model, and at least one model")
        for act in activations:
            _check_activation(act)
        self.k = len(seeds)
        self.n_features = n_features
        self.widths = tuple(int(w) for w in widths)
        self.config = config
        self.device = device
        self.activations = list(activations)
        self.generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
        self.groups = _activation_groups(self.activations)
        self.blocks, total = _layout(n_features, self.widths, self.k)
        self.flat = torch.empty(total, dtype=torch.float32)
        self._init_parameters()
        # each model's dropout key, its generator's next draw after the initial weights
        keys = [
            torch.empty(1, dtype=torch.int64).random_(_INT64_MIN, None, generator=g)
            for g in self.generators
        ]
        self._dropout_keys = torch.stack(keys).to(device)  # [K, 1]
        self._dropout_drawn = 0  # SplitMix64 outputs each model has used so far
        self.flat = self.flat.to(device)
        self.grad = torch.zeros_like(self.flat)
        self.exp_avg = torch.zeros_like(self.flat)
        self.exp_avg_sq = torch.zeros_like(self.flat)
        self.p = self._views(self.flat)
        self.g = self._views(self.grad)
        # per-layer views, looked up once (the step loop is short enough for lookups to show)
        layers = range(len(self.widths) + 1)
        self._W, self._b = [self.p[f"W{i}"] for i in layers], [self.p[f"b{i}"] for i in layers]
        self._gW, self._gb = [self.g[f"W{i}"] for i in layers], [self.g[f"b{i}"] for i in layers]
        hidden = range(len(self.widths))
        self._gamma, self._beta = (
            [self.p[f"gamma{i}"] for i in hidden],
            [self.p[f"beta{i}"] for i in hidden],
        )
        self._ggamma, self._gbeta = (
            [self.g[f"gamma{i}"] for i in hidden],
            [self.g[f"beta{i}"] for i in hidden],
        )
        self.running_mean = [torch.zeros(self.k, 1, w, device=device) for w in self.widths]
        self.running_var = [torch.ones(self.k, 1, w, device=device) for w in self.widths]
        self.steps = 0
        self.alive = [True] * self.k
        # dropout: keep a unit when its 16 random bits (as int16) are >= this threshold
        self._keep_from = round(config.dropout * 65536) - 32768
        self._scale = 1.0 / (1.0 - config.dropout)
        self._Wt = [w.transpose(1, 2) for w in self._W]
        self.kernels = _load_kernels(self.groups, device)
        # per-activation libraries by group; one group of all models for common.c's kernels
        self._libs = None if self.kernels is None else [kern.lib for kern in self.kernels]
        self._all_models = [(0, self.k, None)]
        self._scratch: dict[str, Tensor] = {}
        self._plans: dict[int, _FusedPlan] = {}
        # after a fused step: False when some model's loss was not finite (None: not known)
        self.losses_finite: bool | None = None

    @property
    def backend(self) -> str:
        """``"fused"`` (C kernels for the element-wise work, see kernels.py) or ``"torch"``."""
        return "fused" if self.kernels is not None else "torch"

    # -- parameters ---------------------------------------------------------------------------

    def _views(self, flat: Tensor) -> dict[str, Tensor]:
        return {
            b.name: flat[b.offset : b.offset + self.k * b.numel].view(self.k, *b.shape)
            for b in self.blocks
        }

    def _init_parameters(self) -> None:
        """PyTorch's default init, model by model from its own generator, in nn.Linear's order.

        nn.Linear: weight ``[out, in]`` ~ kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)),
        then bias ~ U(-1/sqrt(in), 1/sqrt(in)); BatchNorm: weight 1, bias 0. The bounds are
        computed with the same float expressions as ``torch.nn.init`` so that a generator in
        the state of ``torch.manual_seed(seed)`` gives nn.Linear's exact numbers.
        """
        views = self._views(self.flat)
        gain = math.sqrt(2.0 / (1 + math.sqrt(5) ** 2))
        for k, gen in enumerate(self.generators):
            for i in range(len(self.widths) + 1):
                w = views[f"W{i}"][k]  # [in, out]
                fan_in = w.shape[0]
                w_bound = math.sqrt(3.0) * (gain / math.sqrt(fan_in))
                weight = torch.empty(w.shape[1], fan_in).uniform_(-w_bound, w_bound, generator=gen)
                w.copy_(weight.T)
                b_bound = 1 / math.sqrt(fan_in)
                views[f"b{i}"][k].uniform_(-b_bound, b_bound, generator=gen)
        for i in range(len(self.widths)):
            views[f"gamma{i}"].fill_(1.0)
            views[f"beta{i}"].fill_(0.0)

    # -- one optimization step ------------------------------------------------------------

    def draw_keep_masks(self, batch: int) -> list[Tensor] | None:
        """Each model's dropout keep-masks for this step, one 0/1 float ``[K, batch, w]`` per layer.

        Model k's dropout bits are the SplitMix64 stream of its own key (drawn from its own
        generator at construction): output ``n`` is ``mix(key + n * GOLDEN)``, and a step takes
        the next ``ceil(batch * sum(widths) / 4)`` outputs. Read as int16, the first
        ``batch * w0`` values are layer 0's units (row-major), the next ``batch * w1`` layer
        1's, and so on; a unit is kept when its value is at or above ``self._keep_from``.
        The stream is counter-based, so all models' bits are computed at once in vectorized,
        multi-threaded integer ops (:func:`splitmix64`); the per-model Mersenne Twister this
        replaces was single-threaded and took ~15% of a Light step.
        Float masks, not bool: ``a * mask`` runs vectorized, ``torch.where`` does not.
        """
        if self.config.dropout == 0.0:
            return None
        sizes = [batch * w for w in self.widths]
        n64 = -(-sum(sizes) // 4)
        bits = splitmix64(self._dropout_keys, self._dropout_drawn, n64, self.device)
        self._dropout_drawn += n64
        r16 = bits.view(torch.int16)
        masks, off = [], 0
        for w, size in zip(self.widths, sizes, strict=True):
            keep = torch.empty(self.k, batch, w, device=self.device)
            torch.ge(r16[:, off : off + size].view(self.k, batch, w), self._keep_from, out=keep)
            masks.append(keep)
            off += size
        return masks

    def train_step(self, x: Tensor, y: Tensor) -> Tensor:
        """Forward and backward for all K models on their batches; returns losses ``[K]``.

        ``x``: ``[K, B, d]``, ``y``: ``[K, B, 1]`` float. Gradients land in ``self.grad`` for the
        caller to inspect before :meth:`adam_step`; running BatchNorm statistics are updated.

        Memory passes are what cost here (module docstring), so: dropout's 1/(1-p) scale is
        folded into the next layer's (small) weights instead of the (large) activations; the
        pre-BatchNorm bias is left out of the matmul and added to the running mean only (it
        cancels in training mode); the output layer, of width 1, is a multiply-and-sum, far
        faster than a matmul with one column.
        """
        if self.kernels is not None:
            return self._train_step_fused(x, y)
        eps, m = self.config.bn_eps, self.config.bn_momentum
        batch = x.shape[1]
        masks = self.draw_keep_masks(batch)
        scale = self._scale if masks is not None else 1.0
        n_hidden = len(self.widths)
        weights = [self._W[0], *(w * scale for w in self._W[1:])] if scale != 1.0 else self._W
        saved = []
        h = x
        for i in range(n_hidden):
            zc = _bmm(h, weights[i])  # [K, B, w]; the pre-BN bias cancels (docstring)
            mean = zc.sum(1, keepdim=True).div_(batch)
            zc.sub_(mean)
            var = torch.mul(zc, zc).sum(1, keepdim=True).div_(batch)
            rstd = (var + eps).rsqrt_()
            bn_scale = self._gamma[i] * rstd
            yv = torch.addcmul(self._beta[i], zc, bn_scale)
            self.running_mean[i].lerp_(mean.add_(self._b[i]), m)
            self.running_var[i].mul_(1 - m).add_(var, alpha=m * batch / (batch - 1))
            mask = masks[i] if masks is not None else None
            h_next, graph = _activation_forward(self.groups, yv, mask)
            saved.append((h, zc, rstd, bn_scale, graph, h_next, mask))
            h = h_next
        losses, dh = self._output_layer(h, y, weights[n_hidden], scale)
        for i in reversed(range(n_hidden)):
            h_prev, zc, rstd, bn_scale, graph, h_out, mask = saved[i]
            dy = _activation_backward(graph, h_out, mask, dh)
            gbeta, ggamma = self._gbeta[i], self._ggamma[i]
            torch.sum(dy, 1, keepdim=True, out=gbeta)
            torch.sum(dy * zc, 1, keepdim=True, out=ggamma)
            ggamma.mul_(rstd)
            # dz = gamma*rstd * (dy - mean(dy) - xhat * mean(dy * xhat)), xhat = zc * rstd
            coef_z = bn_scale * rstd * ggamma * (-1.0 / batch)
            coef_0 = bn_scale * gbeta * (-1.0 / batch)
            # in place into zc's memory (zc is not needed afterwards): saves a cold write
            dz = torch.addcmul(coef_0, zc, coef_z, out=zc).addcmul_(dy, bn_scale)
            _bmm(h_prev.transpose(1, 2), dz, out=self._gW[i])
            if i > 0 and scale != 1.0:
                self._gW[i].mul_(scale)
            # the pre-BN bias's gradient stays exactly zero: BatchNorm cancels it (docstring)
            if i > 0:
                dh = _bmm(dz, weights[i].transpose(1, 2))
        return losses.detach()

    def _output_layer(
        self, h: Tensor, y: Tensor, weight: Tensor, scale: float, dh_out: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """The width-1 output layer and the loss, forward and backward, shared by both paths.

        Returns the per-model losses ``[K]`` and the gradient at ``h`` (into ``dh_out`` when
        given); the output weight and bias gradients land in ``self.grad``.
        """
        n, batch = len(self.widths), h.shape[1]
        w_out = weight.transpose(1, 2)  # [K, 1, w_last]
        logit = torch.mul(h, w_out).sum(2, keepdim=True).add_(self._b[n])  # [K, B, 1]
        losses = F.binary_cross_entropy_with_logits(logit, y, reduction="none").mean((1, 2))
        dlogit = torch.sigmoid(logit).sub_(y).div_(batch)  # [K, B, 1]
        g_out = self._gW[n].view(self.k, 1, -1)
        torch.sum(torch.mul(h, dlogit), 1, keepdim=True, out=g_out)
        if scale != 1.0:
            g_out.mul_(scale)
        torch.sum(dlogit, 1, keepdim=True, out=self._gb[n])
        return losses, torch.mul(dlogit, w_out, out=dh_out)  # dh: [K, B, w_last]

    def _train_step_fused(self, x: Tensor, y: Tensor) -> Tensor:
        """:meth:`train_step` with everything but the matmuls in fused C kernels.

        Same function, same random draws (the kernels read the dropout bits of
        :meth:`draw_keep_masks` from the same SplitMix64 streams); only float32 rounding
        differs. Per hidden layer: one matmul and one forward kernel (BatchNorm, activation,
        dropout, running statistics); one kernel for the output layer and loss; per layer
        back: one backward kernel and the weight- and input-gradient matmuls. Dropout's scale
        is applied to the activations inside the kernels (free there), not to the weights.
        The kernels' arguments are built once per batch size (:meth:`_fused_plan`), so a
        step costs ~15 calls from Python.
        """
        plan = self._fused_plan(x.shape[1])
        run = self._run_kernels
        drawn = self._dropout_drawn
        h = x
        for i, layer in enumerate(plan.layers):
            _bmm(h, self._W[i], out=layer.z)
            run("symact_forward", (*layer.forward_head, drawn, *layer.forward_tail))
            h = layer.h
        self._dropout_drawn += plan.draws
        if not y.is_contiguous():
            y = y.contiguous()
        args = (*plan.output_head, y.data_ptr(), *plan.output_tail)
        status = _run_kernels(self._all_models, [self.kernels[0].common], "symact_output", args)
        self.losses_finite = status != 2
        for i in reversed(range(len(plan.layers))):
            layer = plan.layers[i]
            run("symact_backward", layer.backward_args)  # layer.dh := dz
            h_prev = x if i == 0 else plan.layers[i - 1].h
            _bmm(h_prev.transpose(1, 2), layer.dh, out=self._gW[i])
            # the pre-BN bias's gradient stays exactly zero: BatchNorm cancels it (train_step)
            if i > 0:
                _bmm(layer.dh, self._Wt[i], out=plan.layers[i - 1].dh)
        return plan.loss  # float64, overwritten by the next step

    def _fused_plan(self, batch: int) -> _FusedPlan:
        """Buffers and kernel arguments for steps of ``batch`` rows, made once and reused."""
        plan = self._plans.get(batch)
        if plan is not None:
            return plan
        cfg, k = self.config, self.k
        dropout = cfg.dropout > 0.0
        scale = self._scale if dropout else 1.0
        keys = self._dropout_keys.data_ptr() if dropout else None
        need_deriv = any(kern.has_deriv for kern in self.kernels)
        layers, pos = [], 0
        for i, w in enumerate(self.widths):
            shape = (k, batch, w)
            z, h, dh = (self._buffer(f"{name}{i}", shape) for name in ("z", "h", "dh"))
            deriv = self._buffer(f"deriv{i}", shape) if need_deriv else None
            deriv_ptr = None if deriv is None else deriv.data_ptr()
            mean, var = self._buffer(f"mean{i}", (k, w)), self._buffer(f"var{i}", (k, w))
            gamma, beta = self._gamma[i].data_ptr(), self._beta[i].data_ptr()
            layers.append(
                _FusedLayer(
                    z=z,
                    h=h,
                    dh=dh,
                    keep=(deriv, mean, var),
                    forward_head=(batch, w, z.data_ptr(), gamma, beta, cfg.bn_eps, keys),
                    forward_tail=(
                        pos,
                        self._keep_from,
                        scale,
                        h.data_ptr(),
                        deriv_ptr,
                        mean.data_ptr(),
                        var.data_ptr(),
                        self._b[i].data_ptr(),
                        cfg.bn_momentum,
                        self.running_mean[i].data_ptr(),
                        self.running_var[i].data_ptr(),
                    ),
                    backward_args=(
                        batch,
                        w,
                        dh.data_ptr(),
                        h.data_ptr(),
                        deriv_ptr,
                        z.data_ptr(),
                        mean.data_ptr(),
                        var.data_ptr(),
                        gamma,
                        cfg.bn_eps,
                        scale,
                        self._ggamma[i].data_ptr(),
                        self._gbeta[i].data_ptr(),
                    ),
                )
            )
            pos += batch * w
        n, last = len(self.widths), layers[-1]
        loss = torch.empty(k, dtype=torch.float64)
        plan = _FusedPlan(
            layers=layers,
            draws=-(-pos // 4) if dropout else 0,
            loss=loss,
            output_head=(
                batch,
                self.widths[-1],
                last.h.data_ptr(),
                self._W[n].data_ptr(),
                self._b[n].data_ptr(),
            ),
            output_tail=(
                last.dh.data_ptr(),
                self._gW[n].data_ptr(),
                self._gb[n].data_ptr(),
                loss.data_ptr(),
            ),
        )
        self._plans[batch] = plan
        return plan

    def _run_kernels(self, name: str, args: tuple) -> None:
        _run_kernels(self.groups, self._libs, name, args)

    def _buffer(self, name: str, shape: tuple[int, ...]) -> Tensor:
        """A reused scratch tensor: fresh multi-MB tensors every step cost page faults.

        The fused step's large intermediates all die within the step, so each has one
        buffer (grown when needed; a last partial batch takes a prefix). Growing one
        invalidates the kernel arguments made from the old ones.
        """
        n = math.prod(shape)
        buf = self._scratch.get(name)
        if buf is None or buf.numel() < n:
            buf = self._scratch[name] = torch.empty(n, device=self.device)
            self._plans.clear()
        return buf[:n].view(shape)

    def freeze(self, k: int) -> None:
        """Stop updating model k for good: zero its gradient and Adam moments."""
        self.alive[k] = False
        for buf in (self.grad, self.exp_avg, self.exp_avg_sq):
            for view in self._views(buf).values():
                view[k].zero_()

    def zero_frozen_grads(self) -> None:
        dead = [k for k, ok in enumerate(self.alive) if not ok]
        if dead:
            idx = torch.tensor(dead, device=self.device)
            for view in self.g.values():
                view.index_fill_(0, idx, 0.0)

    def nonfinite_grad_models(self) -> list[int]:
        if self.kernels is not None:  # one C pass, no torch ops
            if self.kernels[0].common.symact_all_finite(self.grad.numel(), self.grad.data_ptr()):
                return []
        elif bool(torch.isfinite(self.grad.sum())):  # one cheap pass; NaN/inf anywhere shows
            return []
        bad = torch.zeros(self.k, dtype=torch.bool, device=self.device)
        for view in self.g.values():
            bad |= ~torch.isfinite(view.reshape(self.k, -1)).all(1)
        return [int(k) for k in torch.nonzero(bad).flatten()]

    def adam_step(self) -> None:
        """torch.optim.Adam's (single-tensor, non-amsgrad) update on the flat buffer."""
        cfg = self.config
        beta1, beta2 = cfg.betas
        self.steps += 1
        bias_c1 = 1 - beta1**self.steps
        bias_c2_sqrt = math.sqrt(1 - beta2**self.steps)
        if self.kernels is not None:  # the same update in one pass instead of seven
            self.kernels[0].common.symact_adam(
                self.flat.numel(),
                self.flat.data_ptr(),
                self.grad.data_ptr(),
                self.exp_avg.data_ptr(),
                self.exp_avg_sq.data_ptr(),
                beta1,
                beta2,
                cfg.lr / bias_c1,
                bias_c2_sqrt,
                cfg.adam_eps,
            )
            return
        self.exp_avg.lerp_(self.grad, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(self.grad, self.grad, value=1 - beta2)
        denom = (self.exp_avg_sq.sqrt() / bias_c2_sqrt).add_(cfg.adam_eps)
        self.flat.addcdiv_(self.exp_avg, denom, value=-cfg.lr / bias_c1)

    # -- inference and export -------------------------------------------------------------

    @torch.no_grad()
    def predict_logits(self, k: int, x: Tensor) -> Tensor:
        """Model k in eval mode (running BN statistics, no dropout) on ``x [n, d]``: ``[n]``."""
        p, h = self.p, x
        for i in range(len(self.widths)):
            z = torch.addmm(p[f"b{i}"][k], h, p[f"W{i}"][k])
            bn_scale = p[f"gamma{i}"][k] * (self.running_var[i][k] + self.config.bn_eps).rsqrt()
            yv = (z - self.running_mean[i][k]) * bn_scale + p[f"beta{i}"][k]
            h = self.activations[k](yv)
        n = len(self.widths)
        return torch.addmm(p[f"b{n}"][k], h, p[f"W{n}"][k]).flatten()

    def state_dict(self, k: int) -> dict[str, Tensor]:
        """Model k's weights under :class:`symact.models.MLP`'s ``state_dict`` keys."""
        p, out = self.p, {}
        for i in range(len(self.widths) + 1):
            out[f"{4 * i}.weight"] = p[f"W{i}"][k].T.contiguous().cpu()
            out[f"{4 * i}.bias"] = p[f"b{i}"][k].flatten().cpu()
            if i < len(self.widths):
                out[f"{4 * i + 1}.weight"] = p[f"gamma{i}"][k].flatten().cpu()
                out[f"{4 * i + 1}.bias"] = p[f"beta{i}"][k].flatten().cpu()
                out[f"{4 * i + 1}.running_mean"] = self.running_mean[i][k].flatten().cpu()
                out[f"{4 * i + 1}.running_var"] = self.running_var[i][k].flatten().cpu()
                out[f"{4 * i + 1}.num_batches_tracked"] = torch.tensor(self.steps)
        return {name: t.clone() for name, t in out.items()}


def _load_kernels(groups, device: torch.device) -> list[fused.ActivationKernels] | None:
    """One compiled kernel set per activation group, or None to run the torch path."""
    if device.type != "cpu":
        return None
    kernels = [fused.load(act) for _, _, act in groups]
    return None if any(kern is None for kern in kernels) else kernels


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _run_kernels(groups, libs, name: str, args: tuple) -> int:
    """Call kernel ``name`` for every group's models, split over torch's thread count; return
    the largest status a call returned (1, no scratch memory, is raised as MemoryError).

    Each thread takes one contiguous range of models (crossing group boundaries as needed),
    so a step costs one pool hand-off per extra thread, not one per group; the calling
    thread runs the first range itself. ctypes releases the GIL during the calls. With one
    thread (the grid runner trains stacks side by side) everything runs inline.
    """
    k = groups[-1][1]
    threads = min(torch.get_num_threads(), k)

    def run_range(lo: int, hi: int) -> int:
        status = 0
        for (start, stop, _), lib in zip(groups, libs, strict=True):
            a, b = max(start, lo), min(stop, hi)
            if a < b:
                code = getattr(lib, name)(a, b, *args)
                if code == 1:
                    raise MemoryError(f"{name}: no memory for the kernel's scratch buffers")
                status = max(status, code)
        return status

    if threads <= 1:
        return run_range(0, k)
    bounds = [round(i * k / threads) for i in range(threads + 1)]
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers < threads - 1:
            _pool = ThreadPoolExecutor(threads - 1, thread_name_prefix="symact-kernel")
        pool = _pool
    futures = [pool.submit(run_range, lo, hi) for lo, hi in itertools.pairwise(bounds[1:])]
    status = run_range(bounds[0], bounds[1])
    return max([status, *(f.result() for f in futures)])


def _activation_groups(activations: Sequence[nn.Module]) -> list[tuple[int, int, nn.Module]]:
    """Maximal runs of consecutive models with the same activation: ``(start, stop, module)``."""
    groups: list[tuple[int, int, nn.Module]] = []
    for k, act in enumerate(activations):
        if groups and _activation_key(groups[-1][2]) == _activation_key(act):
            groups[-1] = (groups[-1][0], k + 1, groups[-1][2])
        else:
            groups.append((k, k + 1, act))
    return groups


# Element-wise activations whose derivative ATen provides directly: no autograd graph needed.
# backward(grad, input, output) -> grad_input
# backward(act, grad, input, output, grad_input) writes the input gradient into grad_input.
_aten = torch.ops.aten
_KNOWN_BACKWARD = {
    nn.GELU: lambda act, g, x, out, gi: _aten.gelu_backward.grad_input(
        g, x, approximate=act.approximate, grad_input=gi
    ),
    nn.SiLU: lambda act, g, x, out, gi: _aten.silu_backward.grad_input(g, x, grad_input=gi),
    nn.Tanh: lambda act, g, x, out, gi: _aten.tanh_backward.grad_input(g, out, grad_input=gi),
    nn.Sigmoid: lambda act, g, x, out, gi: _aten.sigmoid_backward.grad_input(g, out, grad_input=gi),
}


def _activation_forward(groups, yv: Tensor, mask: Tensor | None) -> tuple[Tensor, list]:
    """``h = act(yv) * mask``, each group's activation on its slice of models.

    Returns ``h`` and, per group, what its backward needs: nothing for ReLU (its gradient
    mask is ``h > 0``), the input and output for activations in ``_KNOWN_BACKWARD``, and for
    any other (element-wise) module its derivative times the dropout mask, ``act'(y) * mask``,
    from one ``autograd.grad`` with the mask as the output gradient. Computing that product
    here instead of keeping the graph makes the backward one multiply, and the graph, used
    at once, needs no copy of ``yv`` to guard against later in-place ops on the stacked
    tensor. Exact in real arithmetic; in float32, ``dh`` now multiplies the
    finished derivative instead of each of its terms, which changes only the rounding.
    """
    single = len(groups) == 1
    h = None if single else torch.empty_like(yv)
    graph = []
    for start, stop, act in groups:
        x = yv if single else yv[start:stop]
        m = None if mask is None else (mask if single else mask[start:stop])
        if type(act) is nn.ReLU:
            if single:  # in place: yv is not needed after this
                out = x.relu_()
                h = out if m is None else out.mul_(m)
            elif m is None:
                torch.clamp_min(x, 0.0, out=h[start:stop])
            else:  # straight into h, then the mask in place
                torch.clamp_min(x, 0.0, out=h[start:stop]).mul_(m)
            graph.append((start, stop, act, None))
            continue
        if type(act) in _KNOWN_BACKWARD:
            out = act(x)
            saved = (x, out)
        else:
            with torch.enable_grad():
                leaf = x.detach().requires_grad_()
                out_g = act(leaf)
                if out_g.requires_grad:
                    grad_out = torch.ones_like(out_g) if m is None else m
                    saved = torch.autograd.grad(out_g, leaf, grad_out)[0]  # act'(y) * mask
                else:  # an output that does not depend on the input: zero derivative
                    saved = torch.zeros_like(out_g)
            out = out_g.detach()
        if single:
            h = out if m is None else out * m
        elif m is None:
            h[start:stop] = out
        else:
            torch.mul(out, m, out=h[start:stop])
        graph.append((start, stop, act, saved))
    return h, graph


def _activation_backward(graph, h: Tensor, mask: Tensor | None, dh: Tensor) -> Tensor:
    """Gradient at the activation's input from ``dh``, the gradient at ``h = act(y) * mask``."""
    # dh is a fresh matmul output owned by the caller: gradients overwrite it slice by slice
    for start, stop, act, saved in graph:
        sl = slice(start, stop)
        if saved is None:  # ReLU: gradient passes where h > 0 (kept by dropout and y > 0)
            _aten.threshold_backward.grad_input(dh[sl], h[sl], 0.0, grad_input=dh[sl])
        elif type(act) in _KNOWN_BACKWARD:
            da = dh[sl] if mask is None else dh[sl].mul_(mask[sl])
            x, out = saved
            _KNOWN_BACKWARD[type(act)](act, da, x, out, dh[sl])
        else:  # saved is act'(y) * mask
            dh[sl].mul_(saved)
    return dh
