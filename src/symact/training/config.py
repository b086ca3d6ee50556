"""Training settings: the optimizer, its numbers and the batching, in one small frozen value.

A :class:`TrainConfig` is part of what makes a run reproducible (it is in every run's key);
its defaults are PROTOCOL.md's Phase 2: Adam at 1e-3, batch 1024, 15 epochs.
:meth:`TrainConfig.auto` trains each model until its validation loss stops improving
(early stopping, as tabular deep learning trains); a patience at its default ``None`` keeps
the fixed epochs, and the keys of runs written before this setting existed. The network's
own settings (dropout, BatchNorm) belong to :class:`symact.models.ModelSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from symact.errors import SettingError
from symact.identity import identity_dict

AUTO_MAX_EPOCHS = 300
"""The most epochs ``--epochs auto`` trains a model."""
AUTO_PATIENCE = 16
"""Epochs without a better validation loss after which ``--epochs auto`` stops a model."""


def length_text(epochs: int, patience: int | None) -> str:
    """A training length as reports say it: "15", or "auto (at most 300, patience 16)"
    where ``epochs`` is the maximum of early stopping."""
    if patience is None:
        return str(epochs)
    return f"auto (at most {epochs}, patience {patience})"


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
    patience: int | None = None
    validation: float = 0.2

    @classmethod
    def auto(cls, **settings: Any) -> TrainConfig:
        """Training length chosen by validation (``--epochs auto``): at most
        :data:`AUTO_MAX_EPOCHS` epochs, each model stopping :data:`AUTO_PATIENCE` epochs
        after its best validation loss, its best epoch's weights kept."""
        settings.setdefault("epochs", AUTO_MAX_EPOCHS)
        settings.setdefault("patience", AUTO_PATIENCE)
        return cls(**settings)

    @property
    def early_stopping(self) -> bool:
        """With a patience, ``epochs`` is a maximum: each model trains on its training rows
        less a seeded ``validation`` share, and stops when its loss on that share has not
        improved for ``patience`` epochs; at the end its best epoch's weights are restored.
        Without (the default, the paper's protocol), every model trains ``epochs`` epochs
        on all its training rows."""
        return self.patience is not None

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
        if self.patience is not None and (
            isinstance(self.patience, bool)
            or not isinstance(self.patience, int)
            or self.patience < 1
        ):
            raise SettingError(f"patience must be an integer >= 1 or None, got {self.patience!r}")
        if not 0.0 < self.validation < 1.0:
            raise SettingError(
                f"validation must be a share of the training rows in (0, 1), got {self.validation}"
            )
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))

    def identity(self) -> dict[str, Any]:
        """The settings that differ from the defaults (``symact.identity``): a setting
        added later, at its default, leaves every run key unchanged."""
        return identity_dict(self)
