"""Test-set metrics of the protocol: accuracy at 0.5, ROC AUC, and "Efficiency".

Efficiency is the paper's AUC / log10(parameter count). It mostly restates the parameter
ratio (PROTOCOL.md, "known weaknesses"), which is why it is always reported beside AUC.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import roc_auc_score


def accuracy(y_true: np.ndarray, probs: np.ndarray, threshold: float = 0.5) -> float:
    """Share of rows whose predicted class (probability > threshold) equals the label."""
    y_true, probs = np.asarray(y_true).ravel(), np.asarray(probs).ravel()
    if y_true.shape != probs.shape or y_true.size == 0:
        raise ValueError(
            f"accuracy needs equally long, non-empty labels and scores, got {y_true.shape} "
            f"and {probs.shape}"
        )
    return float(np.mean((probs > threshold) == (y_true == 1)))


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (scikit-learn's ``roc_auc_score``; ties count one half)."""
    y_true, scores = np.asarray(y_true).ravel(), np.asarray(scores).ravel()
    if np.unique(y_true).size != 2:
        raise ValueError(
            "ROC AUC needs both classes in the test labels; this test split has only "
            f"{np.unique(y_true).tolist()} (use more rows or another seed)"
        )
    if not np.all(np.isfinite(scores)):
        return math.nan
    return float(roc_auc_score(y_true, scores))


def efficiency(auc: float, params: int) -> float:
    """The paper's Efficiency = AUC / log10(params)."""
    if params < 2:
        raise ValueError(f"efficiency needs params >= 2 (log10 must be > 0), got {params}")
    return float(auc) / math.log10(params)
