"""Optimizers over the stacked trainer's flat parameter buffer: one class per optimizer.

All models of a stack live in one flat float32 buffer, so an element-wise optimizer
updating that buffer updates every model as ``torch.optim`` would update it alone (all
models take the same number of steps). Each class here reproduces one ``torch.optim``
algorithm (single-tensor, non-fused) with torch ops on the buffer; adding an optimizer is one
class and one row of :data:`OPTIMIZERS`, and the equivalence tests compare it with its
``torch.optim`` twin (:attr:`Optimizer.torch_name`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where a step runs: TrainConfig reads this table
    from torch import Tensor  # (its names) in processes that never import torch

    from symact.training.config import TrainConfig


@dataclass
class Optimizer:
    """State and step of one optimizer over a flat parameter buffer."""

    config: TrainConfig
    params: Tensor
    steps: int = 0
    state: dict[str, Tensor] = field(default_factory=dict)

    torch_name = ""

    def __post_init__(self) -> None:
        self.state = self.initial_state()

    def initial_state(self) -> dict[str, Tensor]:
        """Per-element buffers (moments), shaped like the parameters."""
        return {}

    def step(self, grad: Tensor) -> None:
        raise NotImplementedError

    def reset(self, index: Tensor) -> None:
        """Zero the state of the given flat positions (a model that stopped training)."""
        for buf in self.state.values():
            buf.index_fill_(0, index, 0.0)

    def torch_optimizer(self, parameters):
        """The same algorithm from ``torch.optim`` (for tests and single-model training)."""
        import torch

        cfg = self.config
        cls = getattr(torch.optim, self.torch_name)
        return cls(
            parameters, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay
        )


class Adam(Optimizer):
    """``torch.optim.Adam``: L2 weight decay added to the gradient, no amsgrad."""

    torch_name = "Adam"
    decoupled = False

    def initial_state(self) -> dict[str, Tensor]:
        import torch

        return {name: torch.zeros_like(self.params) for name in ("exp_avg", "exp_avg_sq")}

    def step(self, grad: Tensor) -> None:
        cfg, p = self.config, self.params
        beta1, beta2 = cfg.betas
        self.steps += 1
        if cfg.weight_decay:
            if self.decoupled:
                p.mul_(1 - cfg.lr * cfg.weight_decay)
            else:
                grad = grad.add(p, alpha=cfg.weight_decay)
        m, v = self.state["exp_avg"], self.state["exp_avg_sq"]
        m.lerp_(grad, 1 - beta1)
        v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias_c1 = 1 - beta1**self.steps
        bias_c2_sqrt = math.sqrt(1 - beta2**self.steps)
        denom = (v.sqrt() / bias_c2_sqrt).add_(cfg.eps)
        p.addcdiv_(m, denom, value=-cfg.lr / bias_c1)


class AdamW(Adam):
    """``torch.optim.AdamW``: Adam with decoupled weight decay (``p *= 1 - lr * wd`` first)."""

    torch_name = "AdamW"
    decoupled = True


#: name -> optimizer class; ``TrainConfig.optimizer`` picks a row.
OPTIMIZERS: dict[str, type[Optimizer]] = {"adam": Adam, "adamw": AdamW}


def make_optimizer(config: TrainConfig, params: Tensor) -> Optimizer:
    return OPTIMIZERS[config.optimizer](config, params)
