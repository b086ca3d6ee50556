"""Scores of a trained model on the rows it is judged on: accuracy, ROC AUC, "Efficiency".

Binary tasks: accuracy at probability 0.5 and scikit-learn's ROC AUC. Multi-class tasks:
accuracy of the most probable class and the macro average of one-vs-rest ROC AUCs over
the classes present (with both their rows and others) in the scored labels. Efficiency is
the paper's AUC / log10(parameter count); it mostly restates the parameter ratio
(PROTOCOL.md, "known weaknesses"), which is why it is always reported beside AUC.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import roc_auc_score


def accuracy(y_true: np.ndarray, probs: np.ndarray, threshold: float = 0.5) -> float:
    """Share of rows whose predicted class equals the label.

    ``probs`` is ``[n]`` (probability of class 1) or ``[n, C]`` (class probabilities).
    """
    y_true, probs = np.asarray(y_true).ravel(), np.asarray(probs)
    if probs.ndim == 2:
        if probs.shape[0] != y_true.size or y_true.size == 0:
            raise ValueError(f"accuracy needs one row of scores per label, got {probs.shape}")
        return float(np.mean(np.argmax(probs, axis=1) == y_true))
    probs = probs.ravel()
    if y_true.shape != probs.shape or y_true.size == 0:
        raise ValueError(
            f"accuracy needs equally long, non-empty labels and scores, got {y_true.shape} "
            f"and {probs.shape}"
        )
    return float(np.mean((probs > threshold) == (y_true == 1)))


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC (ties count one half): binary for ``[n]`` scores, macro one-vs-rest for
    ``[n, C]``; NaN when a score is not finite."""
    y_true, scores = np.asarray(y_true).ravel(), np.asarray(scores)
    if not np.all(np.isfinite(scores)):
        return math.nan
    if scores.ndim == 2:
        present = [c for c in range(scores.shape[1]) if 0 < np.sum(y_true == c) < y_true.size]
        if not present:
            raise ValueError("ROC AUC needs at least one class with rows in and out of it")
        return float(np.mean([roc_auc_score(y_true == c, scores[:, c]) for c in present]))
    if np.unique(y_true).size != 2:
        raise ValueError(
            "ROC AUC needs both classes in the scored labels; these have only "
            f"{np.unique(y_true).tolist()} (use more rows or another seed)"
        )
    return float(roc_auc_score(y_true, scores))


def efficiency(auc: float, params: int) -> float:
    """The paper's Efficiency = AUC / log10(params)."""
    if params < 2:
        raise ValueError(f"efficiency needs params >= 2 (log10 must be > 0), got {params}")
    return float(auc) / math.log10(params)
