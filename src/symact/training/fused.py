"""The training step of ``stack.py`` with everything but the matmuls in fused C kernels.

An accelerator, not a second definition: :meth:`FusedStep.step` computes what
``stack.TorchStep.step`` computes, with the same random draws (the kernels read the
dropout bits from the same SplitMix64 streams), up to float32 rounding (tests/training
compare the two). Per hidden layer a step is one matmul and one forward kernel
(normalization, activation, dropout, running statistics); one kernel for the binary output
layer and its loss (or a matmul and a softmax-loss kernel for several classes); per layer
back one backward kernel and the weight- and input-gradient matmuls. The kernels' arguments
are bound by name once per batch size (:meth:`FusedStep._plan`), so a step costs ~15 calls
from Python, each splitting the stack's models over torch's threads. The bound arguments
point into one :class:`~symact.training.state.TrainState` (the one last stepped); a step
on another state binds them anew.

Activations run as register programs, one per model, so the models of one stack may all
have different formulas, with fixed or learnable constants (see ``csrc/kernels.h``).
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch
from torch import Tensor

from symact.formula.parser import parse_formula
from symact.formula.program import Program, compile_program
from symact.training import kernels
from symact.training.ops import bmm
from symact.training.state import StackStructure, TrainState

# per-model modes of the kernels (kernels.h)
RELU, FIXED, LEARNABLE = 0, 1, 2


@dataclass(frozen=True)
class _Layer:
    z: Tensor  # the kernel's input [K, B, w]: the matmul output, or the previous output
    h: Tensor  # after activation and dropout
    out: Tensor  # the stage's output: h, or h + the skip in a buffer of its own
    dh: Tensor  # gradient at out (= at h), overwritten by the gradient at z
    skipped: Tensor | None  # with a skip: the gradient at out, kept for the skipped stage
    forward: tuple  # symact_hidden_forward's bound arguments (`drawn` replaced per step)
    backward: tuple
    keep: tuple  # buffers the arguments point into


@dataclass(frozen=True)
class _Plan:
    layers: list[_Layer]
    draws: int  # SplitMix64 outputs a step takes per model
    loss: Tensor  # [K] float64, written by the output kernel
    output: kernels.BoundArgs  # the output kernel's arguments (y replaced per step)
    y_at: int  # where y sits in them
    logits: Tensor | None  # multi-class: logits [K, B, C]; their gradient is written over them


class FusedStep:
    """The training step of a :class:`StackStructure` in the fused kernels (the module
    docstring); it updates the :class:`TrainState` handed to :meth:`step`."""

    name = "fused"

    def __init__(self, structure: StackStructure, lib: kernels.Library) -> None:
        self.structure, self.lib = structure, lib
        self.models, self.code = program_tables([a.program for a in structure.acts])
        # stages without an activation run the identity program (its derivative: the mask)
        self.identity = program_tables([compile_program(parse_formula("x"))] * structure.k)
        self.no_consts = torch.zeros(structure.k, dtype=torch.int64)
        self.need_deriv = any(int(m) != RELU for m in self.models[:, 5])
        self._state: TrainState | None = None  # the state the plans and addresses point into
        self.consts: list[Tensor] = []
        self.gconsts: list[Tensor] = []
        self._losses_finite = True
        self._scratch: dict[str, Tensor] = {}
        self._constant: dict[str, Tensor] = {}
        self._plans: dict[int, _Plan] = {}
        self._drawn_at = lib.symact_hidden_forward.index("drawn")
        self._idx_at = lib.symact_gather.index("idx")
        #: arguments of the per-step calls, bound by name once (see all_finite, gather)
        self._bound: dict[tuple, kernels.BoundArgs] = {}

    @classmethod
    def create(cls, structure: StackStructure) -> FusedStep | None:
        """The accelerator for ``structure``, or None where the torch path must run (CUDA, an
        activation that is not a formula, no working compiler, ``SYMACT_KERNELS=torch``)."""
        if structure.device.type != "cpu" or any(a.program is None for a in structure.acts):
            if kernels.mode() == "fused" and structure.device.type == "cpu":
                bad = next(a.module for a in structure.acts if a.program is None)
                raise kernels.KernelBuildError(
                    f"SYMACT_KERNELS=fused, but activation {bad!r} is not a formula; use a "
                    "named activation or a formula, or unset SYMACT_KERNELS"
                )
            return None
        lib = kernels.load()
        return None if lib is None else cls(structure, lib)

    def _bind(self, state: TrainState) -> None:
        """Point the kernels' arguments into ``state`` (plans are rebuilt on demand)."""
        st, hidden = self.structure, range(self.structure.n_hidden)
        acts = [s.act for s in st.stages]
        self.consts = [
            self._addresses(lambda k, i=i: st.constants(state.p, k, i) if acts[i] else None)
            for i in hidden
        ]
        self.gconsts = [
            self._addresses(
                lambda k, i=i: state.g[f"c{i}"][k] if acts[i] and st.acts[k].learnable else None
            )
            for i in hidden
        ]
        self._plans.clear()
        self._state = state

    def _addresses(self, tensor_of) -> Tensor:
        out = []
        for k in range(self.structure.k):
            t = tensor_of(k)
            out.append(0 if t is None or t.numel() == 0 else t.data_ptr())
        return torch.tensor(out, dtype=torch.int64)

    # -- the step -------------------------------------------------------------------------

    def step(self, state: TrainState, x: Tensor, y: Tensor) -> Tensor:
        """Forward and backward for all K models on their batches (``TorchStep.step``);
        returns losses ``[K]`` (float64, overwritten by the next step)."""
        if state is not self._state:
            self._bind(state)
        stack, lib = self.structure, self.lib
        plan = self._plan(x.shape[1])
        drawn, at = state.dropout_drawn, self._drawn_at
        h = x
        for i, (stage, layer) in enumerate(zip(stack.stages, plan.layers, strict=True)):
            if stage.linear:
                bmm(h, state.p[f"W{i}"], out=layer.z)
            args = layer.forward
            self._run(lib.symact_hidden_forward, (*args[:at], drawn, *args[at + 1 :]))
            if stage.skip is not None:  # in place unless the activation's backward reads h
                torch.add(layer.h, plan.layers[stage.skip].out, out=layer.out)
            h = layer.out
        state.dropout_drawn += plan.draws
        y = y if y.is_contiguous() else y.contiguous()
        n = stack.n_hidden
        W, b = state.p[f"W{n}"], state.p[f"b{n}"]
        at = plan.y_at
        out_args = (*plan.output[:at], y.data_ptr(), *plan.output[at + 1 :])
        if plan.logits is None:
            status = self._run(lib.symact_binary_output, out_args)
        else:
            torch.baddbmm(b, h, W, out=plan.logits)
            status = self._run(lib.symact_softmax_loss, out_args)
            dlogits = plan.logits
            bmm(h.transpose(1, 2), dlogits, out=state.g[f"W{n}"])
            torch.sum(dlogits, 1, keepdim=True, out=state.g[f"b{n}"])
            bmm(dlogits, W.transpose(1, 2), out=plan.layers[-1].dh)
        self._losses_finite = status != 2
        pending: dict[int, Tensor] = {}  # gradients that skips send to earlier stages
        for i in reversed(range(n)):
            stage, layer = stack.stages[i], plan.layers[i]
            if i in pending:
                layer.dh.add_(pending.pop(i))
            if stage.skip is not None:  # the kernel overwrites dh: keep its copy for the skip
                pending[stage.skip] = layer.skipped.copy_(layer.dh)
            self._run(lib.symact_hidden_backward, layer.backward)  # layer.dh := dz
            if i == 0:
                if stage.linear:
                    bmm(x.transpose(1, 2), layer.dh, out=state.g["W0"])
                continue
            below = plan.layers[i - 1]
            if stage.linear:
                bmm(below.out.transpose(1, 2), layer.dh, out=state.g[f"W{i}"])
                bmm(layer.dh, state.p[f"W{i}"].transpose(1, 2), out=below.dh)
            # else layer.dh is below.dh: the gradient at this stage's input is below's output's
        return plan.loss  # float64, overwritten by the next step

    def losses_finite(self, losses: Tensor) -> bool:
        """Whether every model's loss of the last step was finite (the output kernel says)."""
        return self._losses_finite

    def eval_hidden(
        self, state: TrainState, layer: int, z: Tensor, weight: Tensor | None, bias: Tensor | None
    ) -> Tensor:
        """``TorchStep.eval_hidden`` with the forward kernel for the bias and the activation
        (no normalization, no dropout): each model's program, as in training. Early stopping
        validates every model after every epoch; in torch ops, the activations (which the
        training step never runs there) and ``baddbmm``'s copy of the bias cost twice this.
        The result is a buffer of this layer, overwritten by the next call."""
        if state is not self._state:
            self._bind(state)
        st = self.structure
        k, n = z.shape[:2]
        if weight is not None:
            z = bmm(z, weight, out=self._buffer(f"eval_z{layer}", (k, n, weight.shape[2])))
        else:
            z = z.contiguous()
        w = z.shape[2]
        if bias is None:
            bias = self._zeros(f"eval_bias{layer}", (k, 1, w))
        # in place over the matmul's output (the kernel reads a tile before writing it; no
        # normalization here reads across rows): one buffer less to stream through the cache
        h = z if weight is not None else self._buffer(f"eval_h{layer}", (k, n, w))
        args = self.lib.symact_hidden_forward.bind(
            B=n, W=w, z=z, norm=0, gamma=None, beta=None, bias=bias.contiguous(),
            eps=st.spec.bn_eps, momentum=0.0, mean=None, var=None, running_mean=None,
            running_var=None, keys=None, drawn=0, pos0=0, keep_from=st.keep_from, scale=1.0,
            models=self.models, code=self.code, consts=self.consts[layer], h=h,
            deriv=None,  # the values alone (hidden.c)
            alpha=None, fx=None,  # the parametric form is applied by the caller
        )  # fmt: skip
        self._run(self.lib.symact_hidden_forward, args)
        return h

    def all_finite(self, t: Tensor) -> bool:
        kernel = self.lib.symact_all_finite
        key = ("all_finite", id(t))  # the bound arguments keep ``t``: its id stays its own
        args = self._bound.get(key)
        if args is None:
            args = self._bound[key] = kernel.bind(n=t.numel(), x=t)
        return bool(kernel(*args))

    def gather(
        self, perms: Tensor, start: int, rows: int, x_all: Tensor, y_all: Tensor,
        x_buf: Tensor, y_buf: Tensor,
    ) -> None:  # fmt: skip
        """Rows ``perms[:, start : start + rows]`` (int64, contiguous) of the training data
        into the batch buffers (common.c's loop). The arguments are bound by name once per
        batch shape; ``idx`` is replaced per call."""
        m, stride, d = perms.shape[0], perms.shape[1], x_all.shape[1]
        idx_ptr = perms.data_ptr() + 8 * start  # int64 entries
        kernel = self.lib.symact_gather
        key = ("gather", m, rows, d, stride, *map(id, (x_all, y_all, x_buf, y_buf)))
        args = self._bound.get(key)
        if args is None:
            args = self._bound[key] = kernel.bind(
                m=m, rows=rows, d=d, src=x_all, ysrc=y_all, idx=None, stride=stride,
                dst=x_buf, ydst=y_buf,
            )  # fmt: skip
        at = self._idx_at
        kernel(*args[:at], idx_ptr, *args[at + 1 :])

    # -- arguments, bound once per batch size ---------------------------------------------

    def _plan(self, batch: int) -> _Plan:
        plan = self._plans.get(batch)
        if plan is not None:
            return plan
        stack, lib, spec, state = self.structure, self.lib, self.structure.spec, self._state
        k = stack.k
        dropout = spec.dropout > 0.0
        layers: list[_Layer] = []
        pos = 0
        for i, stage in enumerate(stack.stages):
            w, norm, drop = stage.width, stage.norm, dropout and stage.drop
            shape = (k, batch, w)
            h = self._buffer(f"h{i}", shape)
            # a stage without a Linear reads the previous stage's output as it is, and its
            # backward turns the gradient at its output into the one at that input in place
            z = self._buffer(f"z{i}", shape) if stage.linear else layers[i - 1].out
            dh = self._buffer(f"dh{i}", shape) if stage.linear else layers[i - 1].dh
            out = h if stage.skip is None or not stage.act else self._buffer(f"out{i}", shape)
            skipped = self._buffer(f"skipped{i}", shape) if stage.skip is not None else None
            # the parametric form (kernels.h): a per unit, and (f(y) - y) * keep for a's gradient
            param = stack.parametric and stage.act
            fx = self._buffer(f"fx{i}", shape) if param else None
            deriv = (
                self._buffer(f"deriv{i}", shape)
                if self.need_deriv or not stage.act or param
                else None
            )
            mean, var = self._buffer(f"mean{i}", (k, w)), self._buffer(f"var{i}", (k, w))
            # the bias a stage without a Linear does not have (BatchNorm's running mean adds it)
            bias = state.p[f"b{i}"] if stage.linear else self._zeros(f"bias{i}", (k, 1, w))
            models, code = self.identity if not stage.act else (self.models, self.code)
            common = {
                "B": batch,
                "W": w,
                "z": z,
                "norm": int(norm),
                "mean": mean,
                "var": var,
                "gamma": state.p[f"gamma{i}"] if norm else None,
                "beta": state.p[f"beta{i}"] if norm else None,
                "bias": bias,
                "eps": spec.bn_eps,
                "models": models,
                "code": code,
                "consts": self.consts[i] if stage.act else self.no_consts,
                "h": h,
                "deriv": deriv,
                "alpha": state.p[f"a{i}"] if param else None,
                "fx": fx,
            }
            scale = stack.drop_scale if drop else 1.0
            forward = lib.symact_hidden_forward.bind(
                **common,
                momentum=spec.bn_momentum,
                running_mean=state.running_mean[i] if norm else None,
                running_var=state.running_var[i] if norm else None,
                keys=state.dropout_keys if drop else None,
                drawn=0,
                pos0=pos,
                keep_from=stack.keep_from,
                scale=scale,
            )
            backward = lib.symact_hidden_backward.bind(
                **common,
                dh=dh,
                scale=scale,
                ggamma=state.g[f"gamma{i}"] if norm else None,
                gbeta=state.g[f"beta{i}"] if norm else None,
                # a fixed bias's gradient stays exactly zero: the kernel writes a scratch sink
                gbias=None
                if norm
                else self._buffer(f"sink{i}", (k, 1, w))
                if stage.fixed_bias
                else state.g[f"b{i}"],
                gconsts=self.gconsts[i] if stage.act else self.no_consts,
                galpha=state.g[f"a{i}"] if param else None,
            )
            layers.append(
                _Layer(z, h, out, dh, skipped, forward, backward, (deriv, mean, var, bias, fx))
            )
            if drop:
                pos += batch * w
        n, last = stack.n_hidden, layers[-1]
        loss = torch.empty(k, dtype=torch.float64)
        logits = None
        if spec.n_outputs == 1:
            kernel = lib.symact_binary_output
            output = kernel.bind(
                B=batch,
                W=stack.stages[-1].width,
                h=last.out,
                w=state.p[f"W{n}"],
                bias=state.p[f"b{n}"],
                y=0,
                dh=last.dh,
                gw=state.g[f"W{n}"],
                gbias=state.g[f"b{n}"],
                loss=loss,
            )
        else:
            logits = self._buffer("logits", (k, batch, spec.n_outputs))
            kernel = lib.symact_softmax_loss
            output = kernel.bind(
                B=batch, C=spec.n_outputs, logits=logits, y=0, dlogits=logits, loss=loss
            )
        draws = -(-pos // 4) if dropout else 0
        plan = _Plan(layers, draws, loss, output, kernel.index("y"), logits)
        self._plans[batch] = plan
        return plan

    def _buffer(self, name: str, shape: tuple[int, ...]) -> Tensor:
        """A reused scratch tensor: fresh multi-MB tensors every step cost page faults.

        The step's large intermediates all die within the step, so each has one buffer
        (grown when needed; a last partial batch takes a prefix). Growing one invalidates
        the plans bound to the old ones.
        """
        n = math.prod(shape)
        buf = self._scratch.get(name)
        if buf is None or buf.numel() < n:
            buf = self._scratch[name] = torch.empty(n)
            self._plans.clear()
        return buf[:n].view(shape)

    def _zeros(self, name: str, shape: tuple[int, ...]) -> Tensor:
        """A zero tensor that stays zero (bound into plans; kept across them)."""
        t = self._constant.get(name)
        if t is None or t.shape != shape:
            t = self._constant[name] = torch.zeros(shape)
        return t

    def _run(self, kernel: kernels.Kernel, args: tuple) -> int:
        return run_over_models(self.structure.k, kernel, args)


def program_tables(programs: list[Program]) -> tuple[Tensor, Tensor]:
    """The kernels' view of K programs: ``models`` [K, 6] (code_start, n_instr, n_regs,
    n_consts, out_reg, mode) and the concatenated ``code`` (see csrc/kernels.h)."""
    rows, code = [], []
    for prog in programs:
        mode = LEARNABLE if prog.learnable else (RELU if prog.is_relu else FIXED)
        n = len(prog.constants)
        rows.append((len(code) // 4, len(prog.code), prog.n_registers, n, prog.output, mode))
        code.extend(prog.flat_code())
    return torch.tensor(rows, dtype=torch.int64), torch.tensor(code or [0], dtype=torch.int32)


def evaluate_program(
    lib: kernels.Library, program: Program, y: Tensor, constants: Sequence[float] | None = None
) -> tuple[Tensor, Tensor]:
    """The kernels' value and derivative (forward mode) of ``program`` at float32 ``y``."""
    models, code = program_tables([program])
    c = torch.tensor(list(program.constants if constants is None else constants) or [0.0])
    y = y.contiguous()
    a, d = torch.empty_like(y), torch.empty_like(y)
    args = lib.symact_eval.bind(
        n=y.numel(), y=y, models=models, code=code, consts=torch.tensor([c.data_ptr()]), a=a, d=d
    )
    lib.symact_eval(*args)
    return a, d


def evaluate_reverse(
    lib: kernels.Library, program: Program, y: Tensor, g: Tensor, constants: Sequence[float]
) -> tuple[Tensor, Tensor]:
    """The kernels' reverse sweep: ``g * f'(y)`` and the sums of ``g * df/dc_j``."""
    models, code = program_tables([program])
    c = torch.tensor(list(constants) or [0.0])
    y, g = y.contiguous(), g.contiguous()
    gx, gc = torch.empty_like(y), torch.zeros(max(len(constants), 1), dtype=torch.float64)
    args = lib.symact_eval_reverse.bind(
        n=y.numel(),
        y=y,
        g=g,
        models=models,
        code=code,
        consts=torch.tensor([c.data_ptr()]),
        gx=gx,
        gc=gc,
    )
    lib.symact_eval_reverse(*args)
    return gx, gc[: len(constants)]


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _status(kernel: kernels.Kernel, code: int | None) -> int:
    if code == 1:
        raise MemoryError(f"{kernel.sig.name}: no memory for the kernel's scratch buffers")
    return code or 0


def run_over_models(k: int, kernel: kernels.Kernel, args: tuple) -> int:
    """Call a ranged kernel on models ``0 .. k``, split over torch's thread count; return the
    largest status a call returned (1, no scratch memory, is raised as MemoryError).

    Each thread takes one contiguous range of models; the calling thread runs the first
    itself. ctypes releases the GIL during the calls. With one thread (the grid runner trains
    stacks side by side) everything runs inline.
    """
    threads = min(torch.get_num_threads(), k)
    if threads <= 1:  # inline, as the grid runner's single-threaded stacks call it
        return _status(kernel, kernel.fn(0, k, *args))

    def run_range(lo: int, hi: int) -> int:
        return _status(kernel, kernel.fn(lo, hi, *args))

    bounds = [round(i * k / threads) for i in range(threads + 1)]
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers < threads - 1:
            _pool = ThreadPoolExecutor(threads - 1, thread_name_prefix="symact-kernel")
        pool = _pool
    futures = [pool.submit(run_range, lo, hi) for lo, hi in itertools.pairwise(bounds[1:])]
    status = run_range(bounds[0], bounds[1])
    return max([status, *(f.result() for f in futures)])
