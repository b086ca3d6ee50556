"""Accuracy, ROC AUC and Efficiency as the protocol defines them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from symact.training import accuracy, efficiency, roc_auc


def test_accuracy_thresholds_at_one_half():
    y = np.array([1, 0, 1, 0])
    assert accuracy(y, np.array([0.9, 0.1, 0.5, 0.6])) == 0.5  # 0.5 is not above 0.5


def test_roc_auc_counts_pairs_and_ties():
    y = np.array([0, 0, 1, 1])
    assert roc_auc(y, np.array([0.1, 0.4, 0.35, 0.8])) == 0.75
    assert roc_auc(y, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    assert math.isnan(roc_auc(y, np.array([0.1, np.nan, 0.3, 0.4])))


def test_roc_auc_needs_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        roc_auc(np.array([1, 1, 1]), np.array([0.2, 0.3, 0.4]))


def test_efficiency_is_auc_over_log10_params():
    assert efficiency(0.904, 5825) == pytest.approx(0.904 / math.log10(5825))
    assert round(efficiency(0.904, 5825), 3) == 0.240  # the paper's FOREST_COVER Transfer row
    with pytest.raises(ValueError, match="params"):
        efficiency(0.9, 1)


def test_accuracy_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="equally long"):
        accuracy(np.array([1, 0]), np.array([0.3]))
