"""Training stage: many small MLPs trained per pass on stacked parameters, and their metrics.

``train_stack`` trains a stack of :class:`TrainTask` together and returns one
:class:`TrainOutcome` each; ``plan_stacks`` groups a grid's tasks into such stacks.
"""

from symact.training.config import TrainConfig
from symact.training.metrics import accuracy, efficiency, roc_auc
from symact.training.stack import StackedMLP
from symact.training.trainer import (
    TrainOutcome,
    TrainTask,
    plan_stacks,
    resolve_device,
    train_stack,
)

__all__ = [
    "StackedMLP",
    "TrainConfig",
    "TrainOutcome",
    "TrainTask",
    "accuracy",
    "efficiency",
    "plan_stacks",
    "resolve_device",
    "roc_auc",
    "train_stack",
]
