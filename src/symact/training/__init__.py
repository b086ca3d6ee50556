"""Training stage: many small networks trained per pass on stacked parameters, and metrics.

``train_stack`` trains a stack of :class:`TrainTask` together and returns one
:class:`TrainOutcome` each (``symact.experiments.runner.plan_jobs`` plans a grid's stacks).
Names are imported on first use (PEP 562): ``TrainConfig`` alone does not load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from symact._lazy import lazy_attributes

if TYPE_CHECKING:
    from symact.training.config import TrainConfig
    from symact.training.metrics import accuracy, efficiency, roc_auc
    from symact.training.optimizers import OPTIMIZERS
    from symact.training.stack import StackedModel
    from symact.training.trainer import (
        TrainOutcome,
        TrainTask,
        export,
        resolve_device,
        train_stack,
    )

_LAZY = {
    "OPTIMIZERS": "optimizers",
    "StackedModel": "stack",
    "TrainConfig": "config",
    "TrainOutcome": "trainer",
    "TrainTask": "trainer",
    "accuracy": "metrics",
    "efficiency": "metrics",
    "export": "trainer",
    "resolve_device": "trainer",
    "roc_auc": "metrics",
    "train_stack": "trainer",
}

__all__ = [
    "OPTIMIZERS",
    "StackedModel",
    "TrainConfig",
    "TrainOutcome",
    "TrainTask",
    "accuracy",
    "efficiency",
    "export",
    "resolve_device",
    "roc_auc",
    "train_stack",
]


__getattr__ = lazy_attributes(
    __name__, {name: f"symact.training.{module}" for name, module in _LAZY.items()}
)
