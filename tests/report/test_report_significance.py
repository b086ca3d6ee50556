"""statistics.csv and runs.csv: scipy on real stored runs, Holm on textbook examples, edges."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from symact.report import (
    RUNS_COLUMNS,
    STATISTICS_COLUMNS,
    RunRecord,
    StatisticsSettings,
    holm,
    paired_test,
    pairs_needed,
    runs_table,
    smallest_wilcoxon_p,
    statistics_table,
)
from symact.report.statistics import _wilcoxon_p

# --- Holm's step-down on published examples ---------------------------------------------------


def test_holm_wikipedia_example():
    # Wikipedia, "Holm-Bonferroni method": four hypotheses, alpha 0.05; H1 and H4 rejected.
    # Sorted 0.005 (H4) x 4 = 0.02, 0.01 (H1) x 3 = 0.03, 0.03 (H3) x 2 = 0.06, 0.04 (H2) x 1
    # = 0.04 -> raised to 0.06 by monotonicity.
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02], abs=1e-15)
    assert list(adjusted < 0.05) == [True, False, False, True]


def test_holm_r_p_adjust_example():
    # p.adjust(c(0.01, 0.04, 0.20, 0.03, 0.005, 0.07), "holm") in R: sorted 0.005 x 6 = 0.03,
    # 0.01 x 5 = 0.05, 0.03 x 4 = 0.12, 0.04 x 3 = 0.12, 0.07 x 2 = 0.14, 0.20 x 1 = 0.20.
    adjusted = holm([0.01, 0.04, 0.20, 0.03, 0.005, 0.07])
    assert adjusted == pytest.approx([0.05, 0.12, 0.20, 0.12, 0.03, 0.14], abs=1e-15)


def test_holm_caps_at_one_stays_monotone_and_skips_nan():
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # 2 x 0.5 = 1.0; 0.6 raised to 1.0
    assert holm([0.04]) == pytest.approx([0.04])  # one test: unadjusted
    adjusted = holm([0.02, math.nan, 0.01])  # NaN is no test: m = 2
    assert adjusted[[0, 2]] == pytest.approx([0.02, 0.02]) and math.isnan(adjusted[1])
    assert holm([]).size == 0 and np.isnan(holm([math.nan])).all()
    rng = np.random.default_rng(7)
    p = rng.uniform(0, 1, 50) ** 3
    a = holm(p)
    order = np.argsort(p)
    assert (np.diff(a[order]) >= 0).all() and (a >= p).all() and (a <= 1).all()
    with pytest.raises(ValueError, match="p-values"):
        holm([1.5])


# --- the table against scipy on real runs -----------------------------------------------------


def _by_model(runs, dataset, model):
    return {r.seed: r for r in runs if r.dataset == dataset and r.model == model and not r.failed}


def test_statistics_table_matches_scipy_on_stored_runs(paper_runs):
    settings = StatisticsSettings(bootstrap_seed=123)
    table = statistics_table(paper_runs, settings=settings)
    assert list(table.columns) == list(STATISTICS_COLUMNS)
    assert table.attrs["settings"]["bootstrap_seed"] == 123
    models = {(r.dataset, r.model) for r in paper_runs}
    # every configuration against both baselines, per metric, and never against itself
    assert len(table) == sum(2 * 2 for _ in models) - 2 * 2 * 3
    assert not (table["model"] == table["baseline"]).any()
    assert set(table["baseline"]) == {"Heavy ReLU", "Light ReLU"}
    for row in table.itertuples(index=False):
        mine = _by_model(paper_runs, row.dataset, row.model)
        base = _by_model(paper_runs, row.dataset, row.baseline)
        seeds = sorted(set(mine) & set(base))
        x = np.array([getattr(mine[s], row.metric) for s in seeds])
        y = np.array([getattr(base[s], row.metric) for s in seeds])
        d = x - y
        assert row.n_pairs == 10
        assert row.mean_diff == pytest.approx(d.mean(), abs=1e-15)
        lo, hi = stats.t.interval(0.95, df=d.size - 1, loc=d.mean(), scale=stats.sem(d))
        assert (row.ci_low, row.ci_high) == pytest.approx((lo, hi), abs=1e-12)
        assert row.p_t == pytest.approx(stats.ttest_rel(x, y).pvalue, rel=1e-9)
        assert row.p_wilcoxon == pytest.approx(stats.wilcoxon(np.round(d, 12)).pvalue, rel=1e-12)
        boot = stats.bootstrap(
            (d,), np.mean, method="percentile", rng=np.random.default_rng(123)
        ).confidence_interval
        assert (row.ci_boot_low, row.ci_boot_high) == pytest.approx((boot.low, boot.high))
        assert row.ci_boot_low <= row.mean_diff <= row.ci_boot_high


def test_holm_within_each_family(paper_runs):
    table = statistics_table(paper_runs)
    families = table.groupby(["dataset", "baseline", "metric"])
    assert families.ngroups == 3 * 2 * 2
    for _, family in families:
        # Holm by its definition, written out step by step
        p = family["p_t"].to_numpy()
        m = p.size
        order = np.argsort(p)
        expected = np.empty(m)
        running = 0.0
        for i, k in enumerate(order):
            running = max(running, min(1.0, (m - i) * p[k]))
            expected[k] = running
        assert family["p_holm"].to_numpy() == pytest.approx(expected, rel=1e-12)
        assert list(family["significant"]) == ["yes" if q < 0.05 else "no" for q in expected]


def test_real_verdicts_are_plausible(paper_runs):
    table = statistics_table(paper_runs).set_index(["dataset", "model", "baseline", "metric"])
    # Heavy ReLU beats Light ReLU on every dataset's AUC, with 10 seeds clearly
    for ds in ("HIGGS", "FOREST_COVER", "SPAMBASE"):
        row = table.loc[(ds, "Heavy ReLU", "Light ReLU", "auc")]
        assert row["ci_low"] > 0 and row["significant"] == "yes"
    # Light GELU and Light ReLU are indistinguishable on FOREST_COVER
    row = table.loc[("FOREST_COVER", "Light GELU", "Light ReLU", "auc")]
    assert row["ci_low"] < 0 < row["ci_high"] and row["significant"] == "no"


def test_five_seeds_cannot_pass_wilcoxon(builtin_runs):
    table = statistics_table(builtin_runs)
    assert (table["n_pairs"] == 5).all()
    assert (table["p_wilcoxon"] >= smallest_wilcoxon_p(5) - 1e-12).all()
    assert len(table) == 2 * (5 * 2 * 2)  # 2 datasets x 5 other models x 2 baselines x 2 metrics


def test_fast_wilcoxon_equals_scipy_with_ties_and_zeros():
    rng = np.random.default_rng(3)
    cases = [
        np.array([0.01, 0.01, -0.02, 0.0, 0.03]),
        np.array([0.005, -0.005, 0.005, 0.01, 0.0, 0.0, 0.02, -0.01]),
        *(np.round(rng.normal(0.003, 0.01, n), 3) for n in (4, 7, 10, 13, 20)),
        rng.normal(0, 1, 9),  # no ties: scipy's exact distribution
    ]
    for d in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy's note that ties make "exact" inexact
            expected = stats.wilcoxon(d, method="auto").pvalue
        assert _wilcoxon_p(d) == pytest.approx(expected, rel=1e-12), d


# --- edge cases -----------------------------------------------------------------------------


def _run(model, seed, acc, auc=None, failed=False, ds="D"):
    arch, act = model.split(" ", 1)
    params = 26601 if arch == "Heavy" else 4161
    auc = acc if auc is None else auc
    if failed:
        return RunRecord(ds, arch, act, seed, math.nan, math.nan, params, failed=True)
    return RunRecord(ds, arch, act, seed, acc, auc, params)


def test_two_pairs_are_untestable_and_stay_out_of_holm():
    runs = [
        *(_run("Light ReLU", s, a) for s, a in [(1, 0.80), (2, 0.82), (3, 0.81)]),
        *(_run("Light GELU", s, a) for s, a in [(1, 0.83), (2, 0.84), (3, 0.86)]),
        *(_run("Light SiLU", s, a) for s, a in [(1, 0.79), (2, 0.80)]),  # seed 3 never ran
    ]
    table = statistics_table(runs, baselines=[("Light", "ReLU")], metrics=["accuracy"])
    table = table.set_index("model")
    silu, gelu = table.loc["Light SiLU"], table.loc["Light GELU"]
    assert silu["n_pairs"] == 2 and silu["significant"] == "untestable"
    assert math.isnan(silu["p_holm"]) and math.isfinite(silu["p_t"])
    # the family has one testable member, so GELU's p is not adjusted
    assert gelu["p_holm"] == pytest.approx(gelu["p_t"], rel=1e-15)
    d = np.array([0.03, 0.02, 0.05])
    assert gelu["p_t"] == pytest.approx(stats.ttest_1samp(d, 0).pvalue, rel=1e-9)
    assert gelu["p_wilcoxon"] == pytest.approx(0.25)  # 2 / 2^3: the best 3 pairs can do


def test_identical_runs_show_no_difference():
    runs = [
        _run(m, s, a, ds="SAME")
        for m in ("Light ReLU", "Light GELU")
        for s, a in [(1, 0.8), (2, 0.9), (3, 0.85), (4, 0.7)]
    ]
    row = statistics_table(runs, baselines=[("Light", "ReLU")]).iloc[0]
    assert row["n_pairs"] == 4 and row["mean_diff"] == 0.0
    assert (row["ci_low"], row["ci_high"], row["ci_boot_low"], row["ci_boot_high"]) == (0, 0, 0, 0)
    assert row["p_t"] == 1.0 and row["p_wilcoxon"] == 1.0 and row["p_holm"] == 1.0
    assert row["significant"] == "no"


def test_constant_nonzero_difference_has_no_t_test():
    test = paired_test([0.01, 0.01, 0.01, 0.01, 0.01, 0.01])
    assert test.mean_diff == pytest.approx(0.01)
    assert test.ci_low == test.ci_high == test.mean_diff
    assert math.isnan(test.p_t)
    assert test.p_wilcoxon == pytest.approx(2 / 2**6)  # six equal signs: scipy's exact answer


def test_failed_run_drops_its_pair():
    seeds = [(1, 0.80, 0.82), (2, 0.81, 0.85), (3, 0.79, 0.80), (4, 0.83, 0.83)]
    base = [_run("Heavy ReLU", s, a) for s, a, _ in seeds]
    light = [_run("Light ReLU", s, b, failed=(s == 2)) for s, _, b in seeds]
    row = statistics_table(base + light, baselines=[("Heavy", "ReLU")]).iloc[0]
    assert row["n_pairs"] == 3
    d = np.array([0.02, 0.01, 0.0])  # seeds 1, 3, 4
    assert row["mean_diff"] == pytest.approx(d.mean())
    assert row["p_t"] == pytest.approx(stats.ttest_1samp(d, 0).pvalue)
    everything_failed = [_run("Light ReLU", s, 0.5, failed=True) for s, _, _ in seeds]
    row = statistics_table(base + everything_failed, baselines=[("Heavy", "ReLU")]).iloc[0]
    assert row["n_pairs"] == 0 and row["significant"] == "untestable"
    assert math.isnan(row["mean_diff"]) and math.isnan(row["p_t"])


def test_bootstrap_is_seeded():
    d = [0.01, -0.004, 0.02, 0.013, 0.002, 0.007]
    a = paired_test(d, StatisticsSettings(bootstrap_seed=1))
    b = paired_test(d, StatisticsSettings(bootstrap_seed=1))
    c = paired_test(d, StatisticsSettings(bootstrap_seed=2))
    assert (a.ci_boot_low, a.ci_boot_high) == (b.ci_boot_low, b.ci_boot_high)
    assert (a.ci_boot_low, a.ci_boot_high) != (c.ci_boot_low, c.ci_boot_high)
    assert a.p_t == c.p_t and a.ci_low == c.ci_low  # only the bootstrap depends on the seed


def test_baseline_missing_on_a_dataset_gives_no_rows_for_it():
    runs = [_run("Light GELU", 1, 0.8, ds="A"), _run("Light ReLU", 1, 0.7, ds="B")]
    table = statistics_table(runs)
    assert table.empty and list(table.columns) == list(STATISTICS_COLUMNS)
    with pytest.raises(ValueError, match="metric"):
        statistics_table(runs, metrics=["efficiency"])


def test_wilcoxon_limits_with_few_seeds():
    assert smallest_wilcoxon_p(3) == 0.25 and smallest_wilcoxon_p(5) == 0.0625
    assert pairs_needed(0.05) == 6  # RESEARCH.md: no test at 0.05 below 6 seeds
    assert pairs_needed(0.05, family_size=20) == 10  # ... ~10 with Holm over ~20 comparisons


def test_settings_are_checked():
    with pytest.raises(ValueError, match="confidence"):
        StatisticsSettings(confidence=95)
    with pytest.raises(ValueError, match="bootstrap_method"):
        StatisticsSettings(bootstrap_method="studentized")


def test_runs_table(builtin_runs):
    table = runs_table(builtin_runs)
    assert list(table.columns) == list(RUNS_COLUMNS) and len(table) == 60
    assert set(table["model"]) == {
        "Heavy ReLU",
        "Light ReLU",
        "Light GELU",
        "Light SiLU",
        "Light Hybrid (Specialist)",
        "Light Hybrid (Transfer)",
    }
    first = table.iloc[0]
    assert (first["dataset"], first["model"], first["seed"]) == ("BREAST_CANCER", "Heavy ReLU", 42)
    # the statistics table's differences can be recomputed from runs.csv alone
    stats_row = statistics_table(builtin_runs).iloc[0]
    wide = table.pivot_table(index=["dataset", "seed"], columns="model", values=stats_row.metric)
    d = (wide[stats_row.model] - wide[stats_row.baseline]).loc[stats_row.dataset]
    assert stats_row.mean_diff == pytest.approx(d.mean(), abs=1e-15)
    assert isinstance(table, pd.DataFrame) and table["failed"].dtype == bool
