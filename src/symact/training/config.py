"""Training settings: the optimizer, its numbers and the batching, in one small frozen value.

A :class:`TrainConfig` is part of what makes a run reproducible (it is in every run's key);
its defaults are PROTOCOL.md's Phase 2: Adam at 1e-3, batch 1024, 15 epochs. The network's
own settings (dropout, BatchNorm) belong to :class:`symact.models.ModelSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from symact.errors import SettingError
from symact.identity import identity_dict


@dataclass(frozen=True)
class TrainConfig:
    """How every model of a stack is trained (all models of one stack share it).

    ``optimizer`` names a row of ``symact.training.optimizers.OPTIMIZERS`` (``adam``,
    ``adamw``); ``weight_decay`` is Adam's L2 term or AdamW's decoupled decay.
    """

    epochs: int = 15
    batch_size: int = 1024
    optimizer: str = "adam"
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        from symact.training.optimizers import OPTIMIZERS

        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise SettingError(f"epochs must be an integer >= 1, got {self.epochs!r}")
        if self.batch_size < 2:
            raise SettingError(
                f"batch_size must be >= 2 (BatchNorm needs 2 rows per batch), got {self.batch_size}"
            )
        if self.optimizer not in OPTIMIZERS:
            raise SettingError(
                f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"
            )
        if not self.lr > 0:
            raise SettingError(f"lr must be > 0, got {self.lr}")
        if not all(0.0 <= b < 1.0 for b in self.betas) or len(self.betas) != 2:
            raise SettingError(f"betas must be two numbers in [0, 1), got {self.betas}")
        if not self.eps > 0 or not self.weight_decay >= 0:
            raise SettingError(
                f"eps must be > 0 and weight_decay >= 0, got {self.eps}, {self.weight_decay}"
            )
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))

    def identity(self) -> dict[str, Any]:
        """The settings that differ from the defaults (``symact.identity``): a setting
        added later, at its default, leaves every run key unchanged."""
        return identity_dict(self)
