"""Training settings: the protocol's optimizer, batch and regularization numbers in one place.

A :class:`TrainConfig` is part of what makes a run reproducible, so it is a small frozen
value; its defaults are PROTOCOL.md's Phase 2 (Adam 1e-3, batch 1024, 15 epochs, dropout
0.3, PyTorch's BatchNorm1d defaults).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainConfig:
    """How every model of a stack is trained (all models of one stack share it)."""

    epochs: int = 15
    batch_size: int = 1024
    lr: float = 1e-3
    dropout: float = 0.3
    bn_eps: float = 1e-5
    bn_momentum: float = 0.1
    betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 2:
            raise ValueError(
                f"batch_size must be >= 2 (BatchNorm needs 2 rows per batch), got {self.batch_size}"
            )
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not self.bn_eps > 0 or not 0.0 <= self.bn_momentum <= 1.0:
            raise ValueError(
                f"bn_eps must be > 0 and bn_momentum in [0, 1], got {self.bn_eps}, "
                f"{self.bn_momentum}"
            )
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"Adam betas must be in [0, 1), got {self.betas}")
