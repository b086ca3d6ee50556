"""Tensor operations both training paths share: the stack's matmul, the dropout stream and
the activations in eval mode.

``stack.py`` (the torch step) and ``fused.py`` (the C kernels' step) both run their matmuls
through :func:`bmm`, and the torch step draws its dropout bits with :func:`splitmix64`, the
stream the kernels compute in C; here, so that neither path imports the other.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from symact.formula.compile import compile_torch_learnable
from symact.training.state import Group

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
    if head == k:  # the common case (one thread per stack): no views to make
        return torch.bmm(a, b, out=out)
    if head:
        torch.bmm(a[:head], b[:head], out=out[:head])
    for j in range(head, k):
        torch.mm(a[j], b[j], out=out[j])
    return out


def eval_activation(groups: Sequence[Group], p: dict[str, Tensor], layer: int, z: Tensor) -> Tensor:
    """Every model's activation of hidden layer ``layer`` at ``z [K, n, w]`` in torch ops, each
    group of models on its slice; learnable constants from the parameter views ``p``."""
    h = torch.empty_like(z)
    for g in groups:
        sl, act = slice(g.start, g.stop), g.act
        if type(act.module) is nn.ReLU:
            torch.clamp_min(z[sl], 0.0, out=h[sl])
        elif act.learnable:
            consts = p[f"c{layer}"][sl, : act.n_constants]
            shaped = [consts[:, j].view(-1, 1, 1) for j in range(act.n_constants)]
            h[sl] = compile_torch_learnable(act.formula)((z[sl], shaped))
        else:
            h[sl] = act.module(z[sl])
    return h
