"""Paired statistics against hand-computed numbers."""

from __future__ import annotations

import math

import pytest

from symact.report import (
    PAIRED_COLUMNS,
    RunRecord,
    mean_confidence_interval,
    paired_differences,
    param_ratio_gain,
)

T_975_DF2 = 4.302652729911275  # Student t, 97.5% quantile, 2 degrees of freedom (tables)
T_975_DF1 = 12.706204736174707


def _runs(ds, arch, act, params, rows):
    return [
        RunRecord(ds, arch, act, seed, acc, auc, params, failed=acc is None)
        if acc is not None
        else RunRecord(ds, arch, act, seed, math.nan, math.nan, params, failed=True)
        for seed, acc, auc in rows
    ]


def records():
    heavy = _runs(
        "H", "Heavy", "ReLU", 26601, [(42, 0.80, 0.90), (43, 0.82, 0.91), (44, 0.84, 0.92)]
    )
    relu = _runs("H", "Light", "ReLU", 4161, [(42, 0.79, 0.90), (43, 0.80, 0.91), (44, 0.84, 0.92)])
    gelu = _runs("H", "Light", "GELU", 4161, [(42, 0.81, 0.91), (43, None, None), (44, 0.83, 0.93)])
    # a dataset without the baseline contributes no rows
    lonely = _runs("Z", "Light", "ReLU", 4161, [(42, 0.5, 0.5)])
    return heavy + relu + gelu + lonely


def test_paired_differences_by_hand():
    table = paired_differences(records())
    assert list(table.columns) == list(PAIRED_COLUMNS)
    assert list(table["activation"]) == ["ReLU", "GELU"]
    relu = table.iloc[0]
    # acc diffs -0.01, -0.02, 0.00: mean -0.01, sample std 0.01
    half = T_975_DF2 * 0.01 / math.sqrt(3)
    assert relu["n_pairs"] == 3
    assert relu["acc_diff_mean"] == pytest.approx(-0.01, abs=1e-12)
    assert relu["acc_diff_ci_low"] == pytest.approx(-0.01 - half, abs=1e-12)
    assert relu["acc_diff_ci_high"] == pytest.approx(-0.01 + half, abs=1e-12)
    # equal AUC on every seed: zero difference, degenerate interval
    assert relu["auc_diff_mean"] == pytest.approx(0.0, abs=1e-12)
    assert relu["auc_diff_ci_low"] == pytest.approx(0.0, abs=1e-12)
    # ... and still a +22% "efficiency gain", all of it from the parameter ratio
    ratio = math.log10(26601) / math.log10(4161) - 1
    assert relu["param_ratio_gain"] == pytest.approx(ratio, rel=1e-12)
    assert round(ratio, 3) == 0.223
    assert relu["efficiency_gain"] == pytest.approx(ratio, rel=1e-9)
    assert relu["baseline"] == "Heavy ReLU"
    assert (relu["params"], relu["baseline_params"]) == (4161, 26601)


def test_failed_run_drops_its_pair():
    gelu = paired_differences(records()).iloc[1]
    # seed 43 failed: pairs 42 (+0.01) and 44 (-0.01); sample std sqrt(2) * 0.01
    assert gelu["n_pairs"] == 2
    half = T_975_DF1 * (math.sqrt(2) * 0.01) / math.sqrt(2)
    assert gelu["acc_diff_mean"] == pytest.approx(0.0, abs=1e-12)
    assert gelu["acc_diff_ci_high"] == pytest.approx(half, abs=1e-12)
    # efficiency gain on the paired seeds (42, 44) only: mean AUC 0.92 vs 0.91
    expected = (0.92 / math.log10(4161)) / (0.91 / math.log10(26601)) - 1
    assert gelu["efficiency_gain"] == pytest.approx(expected, rel=1e-12)


def test_other_baseline():
    table = paired_differences(records(), baseline=("Light", "ReLU"))
    assert set(table["activation"]) == {"ReLU", "GELU"}  # Heavy ReLU and Light GELU
    heavy = table[table["architecture"] == "Heavy"].iloc[0]
    assert heavy["acc_diff_mean"] == pytest.approx(0.01, abs=1e-12)
    assert heavy["param_ratio_gain"] == pytest.approx(
        math.log10(4161) / math.log10(26601) - 1, rel=1e-12
    )
    # dataset Z has the baseline but nothing else: no rows for it
    assert "Z" not in set(table["dataset"])


def test_mean_confidence_interval_edges():
    m, lo, hi = mean_confidence_interval([1.0, 2.0, 3.0], confidence=0.95)
    assert (m, lo, hi) == pytest.approx(
        (2.0, 2.0 - T_975_DF2 / math.sqrt(3), 2.0 + T_975_DF2 / math.sqrt(3))
    )
    m, lo, hi = mean_confidence_interval([0.5])
    assert m == 0.5 and math.isnan(lo) and math.isnan(hi)
    assert all(math.isnan(v) for v in mean_confidence_interval([]))
    with pytest.raises(ValueError, match="confidence"):
        mean_confidence_interval([1.0, 2.0], confidence=95)


def test_missing_baseline_is_named():
    with pytest.raises(ValueError, match="baseline configuration"):
        paired_differences(records(), baseline=("Heavy", "GELU"))


def test_param_ratio_gain_protocol_number():
    assert param_ratio_gain(26601, 4161) == pytest.approx(0.2226, abs=1e-4)
