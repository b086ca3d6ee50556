"""Helpers shared by the training tests: test activations and the protocol's split."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn


class XCos(nn.Module):
    """x * cos(x), the paper's HIGGS activation (the Growing Cosine Unit)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.cos(x)


class Explode(nn.Module):
    """An activation whose outputs overflow float32 at once: the loss must turn non-finite."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(torch.exp(x * 10.0))


def protocol_split(X: np.ndarray, y: np.ndarray, seed: int, test_size: float = 0.2):
    """train_test_split(random_state=seed) + StandardScaler fitted on the training part."""
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_size, random_state=seed)
    scaler = StandardScaler().fit(X_tr)
    return (
        scaler.transform(X_tr).astype(np.float32),
        y_tr.astype(np.int64),
        scaler.transform(X_te).astype(np.float32),
        y_te.astype(np.int64),
    )
