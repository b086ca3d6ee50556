"""The verdict across datasets: does a configuration beat ReLU over the whole suite?

Per-dataset paired tests (``statistics.py``) answer "on this dataset"; a suite of datasets
needs the tests of Demšar (2006, "Statistical comparisons of classifiers over multiple data
sets", JMLR 7): per configuration and fixed baseline (Light ReLU, Heavy ReLU) the
wins / ties / losses over the datasets (paired t per dataset, Holm's step-down over the
suite's datasets), the Wilcoxon signed-rank test across datasets on the per-dataset mean
differences (zeros split between the signs, as Demšar does), and, over all configurations,
the mean rank with the Friedman test (Iman-Davenport's F, Demšar's recommendation) and
Nemenyi's critical difference. The share of each dataset's Light-to-Heavy gap a
configuration closes says how far a small network comes towards a large one.

Every distribution is scipy's (``wilcoxon``, ``f``, ``chi2``, ``studentized_range``); the
tests in tests/report/test_report_suite.py reproduce Demšar's worked example (Table 6:
mean ranks 3.143 / 2.000 / 2.893 / 1.964, chi2_F = 9.28, F_F = 3.69, CD = 1.25). Where the
suite has too few datasets for a test to reach ``alpha`` at all, the verdict says "not
decidable" and how many datasets would decide it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from symact.report.statistics import (
    DEFAULT_SETTINGS,
    METRICS,
    StatisticsSettings,
    group_by_model,
    holm,
    metric_value,
    paired_test,
    pairs_needed,
    seed_differences,
)
from symact.report.tables import HEAVY_BASELINE, LIGHT_BASELINE, RecordLike, model_label

NOT_DECIDABLE = "not decidable"

SUITE_COLUMNS: tuple[str, ...] = (
    "model",
    "baseline",
    "metric",
    "n_datasets",
    "wins",
    "ties",
    "losses",
    "median_diff",
    "gap_closed_median",
    "gap_closed_q1",
    "gap_closed_q3",
    "gap_datasets",
    "wilcoxon_statistic",
    "wilcoxon_p",
    "wilcoxon_verdict",
    "mean_rank",
    "baseline_mean_rank",
    "rank_datasets",
    "friedman_p",
    "critical_difference",
    "rank_verdict",
)


def mean_ranks(scores: pd.DataFrame) -> pd.Series:
    """Mean rank of each column over the rows (datasets); rank 1 is the highest score, ties
    share the mean of their ranks (Demšar's convention)."""
    ranks = stats.rankdata(-scores.to_numpy(dtype=np.float64), axis=1)
    return pd.Series(ranks.mean(axis=0), index=scores.columns)


def nemenyi_q(k: int, alpha: float = 0.05) -> float:
    """Nemenyi's critical value q_alpha for ``k`` configurations: the studentized range's
    upper ``alpha`` quantile with infinite degrees of freedom, over sqrt(2) (Demšar's Table
    5a: 2.569 for k = 4 at 0.05)."""
    if k < 2:
        raise ValueError(f"Nemenyi's test needs at least 2 configurations, got {k}")
    return float(stats.studentized_range.ppf(1.0 - alpha, k, np.inf)) / math.sqrt(2.0)


def critical_difference(k: int, n_datasets: int, alpha: float = 0.05) -> float:
    """Nemenyi's critical difference of mean ranks: q_alpha * sqrt(k (k + 1) / (6 N))."""
    return nemenyi_q(k, alpha) * math.sqrt(k * (k + 1) / (6.0 * n_datasets))


def datasets_needed_nemenyi(k: int, alpha: float = 0.05) -> int:
    """Fewest datasets with which two of ``k`` configurations can differ by more than the
    critical difference at all (the largest possible difference is k - 1)."""
    n = 2
    while critical_difference(k, n, alpha) >= k - 1:
        n += 1
    return n


def datasets_needed_friedman(k: int, alpha: float = 0.05) -> int:
    """Fewest datasets with which Friedman's chi2 can reach ``alpha``: with every dataset
    ranking the configurations alike, chi2_F = N (k - 1)."""
    n = 2
    while stats.chi2.sf(n * (k - 1), k - 1) >= alpha:
        n += 1
    return n


@dataclass(frozen=True)
class FriedmanTest:
    """Friedman's test on mean ranks, as Demšar (2006) computes it, with Nemenyi's CD.

    ``chi2`` is Friedman's statistic from the mean ranks (no tie correction: Demšar's
    equation, on which the critical difference builds too); ``f_statistic`` Iman and
    Davenport's F_F = (N - 1) chi2 / (N (k - 1) - chi2) with (k - 1, (k - 1)(N - 1)) degrees
    of freedom, and ``p_value`` its p (0 where every dataset ranks the configurations alike:
    F_F is then infinite). ``decidable`` is False with fewer datasets than
    ``datasets_needed``; the p-value is then reported but cannot reach ``alpha``.
    """

    n_datasets: int
    mean_ranks: dict[str, float]
    chi2: float
    f_statistic: float
    p_value: float
    q_alpha: float
    critical_difference: float
    alpha: float
    datasets_needed: int

    @property
    def decidable(self) -> bool:
        return self.n_datasets >= self.datasets_needed


def friedman_test(scores: pd.DataFrame, alpha: float = 0.05) -> FriedmanTest:
    """Friedman + Nemenyi on ``scores`` (rows datasets, columns configurations, higher is
    better). Rows with a missing score are left out (the test needs complete blocks)."""
    complete = scores.dropna()
    n, k = complete.shape
    if k < 2:
        raise ValueError(f"Friedman's test needs at least 2 configurations, got {k}")
    ranks = mean_ranks(complete) if n else pd.Series(np.nan, index=scores.columns)
    needed = max(datasets_needed_friedman(k, alpha), datasets_needed_nemenyi(k, alpha))
    if n < 2:
        cd = math.nan
        return FriedmanTest(
            n, ranks.to_dict(), math.nan, math.nan, math.nan, nemenyi_q(k, alpha), cd, alpha, needed
        )
    r = ranks.to_numpy()
    chi2 = 12.0 * n / (k * (k + 1)) * (float(np.sum(r**2)) - k * (k + 1) ** 2 / 4.0)
    denominator = n * (k - 1) - chi2
    if denominator <= 1e-12:
        f_stat, p = math.inf, 0.0
    else:
        f_stat = (n - 1) * chi2 / denominator
        p = float(stats.f.sf(f_stat, k - 1, (k - 1) * (n - 1)))
    return FriedmanTest(
        n_datasets=n,
        mean_ranks={str(c): float(v) for c, v in ranks.items()},
        chi2=float(chi2),
        f_statistic=float(f_stat),
        p_value=p,
        q_alpha=nemenyi_q(k, alpha),
        critical_difference=critical_difference(k, n, alpha),
        alpha=alpha,
        datasets_needed=needed,
    )


@dataclass(frozen=True)
class WilcoxonAcross:
    """Wilcoxon signed-rank across datasets on the per-dataset mean differences."""

    n_datasets: int
    statistic: float
    p_value: float
    verdict: str


def wilcoxon_across(differences: Sequence[float], alpha: float = 0.05) -> WilcoxonAcross:
    """Two-sided Wilcoxon signed-rank test of the per-dataset mean ``differences`` (model
    minus baseline), zeros split evenly between the signs (Demšar's ``zsplit``).

    ``statistic`` is T = min(R+, R-). The verdict is "better" / "worse" (p < alpha, by the
    sign of the median difference), "no difference", or "not decidable: needs N datasets"
    when even every dataset agreeing could not reach ``alpha`` (2 / 2^N >= alpha).
    """
    d = np.round(np.asarray(list(differences), dtype=np.float64), 12)
    d = d[np.isfinite(d)]
    n = int(d.size)
    needed = pairs_needed(alpha)
    if n < needed:
        return WilcoxonAcross(n, math.nan, math.nan, f"{NOT_DECIDABLE}: needs {needed} datasets")
    if bool(np.all(d == 0.0)):
        return WilcoxonAcross(n, math.nan, 1.0, "no difference")
    result = stats.wilcoxon(d, zero_method="zsplit")
    p = float(result.pvalue)
    verdict = "no difference"
    if p < alpha:
        verdict = "better" if float(np.median(d)) > 0 else "worse"
    return WilcoxonAcross(n, float(result.statistic), p, verdict)


def gap_closed(mine: float, light: float, heavy: float) -> float:
    """Share of the Light ReLU -> Heavy ReLU gap a configuration closes on one dataset:
    (mine - light) / (heavy - light); 1 reaches Heavy, 0 stays at Light. NaN where Heavy is
    not better than Light (no gap to close)."""
    gap = heavy - light
    if not gap > 1e-12:
        return math.nan
    return (mine - light) / gap


def _dataset_means(records: Iterable[RecordLike], metric: str) -> pd.DataFrame:
    """Mean ``metric`` over each (dataset, model)'s finished runs: rows datasets, columns
    models (NaN where a dataset lacks a model)."""
    means = {
        key: float(np.mean([metric_value(r, metric) for r in runs if not r.failed]))
        for key, runs in group_by_model(records).items()
        if any(not r.failed for r in runs)
    }
    if not means:
        return pd.DataFrame()
    frame = pd.Series(means).unstack()
    order = list(dict.fromkeys(model for _, model in group_by_model(records)))
    return frame.reindex(columns=[m for m in order if m in frame.columns])


def suite_statistics(
    records: Iterable[RecordLike],
    *,
    baselines: Sequence[tuple[str, str]] = (LIGHT_BASELINE, HEAVY_BASELINE),
    metrics: Sequence[str] = METRICS,
    settings: StatisticsSettings = DEFAULT_SETTINGS,
) -> pd.DataFrame:
    """``suite_statistics.csv``: one row per (model, baseline, metric) over the suite.

    ``wins``/``ties``/``losses``: datasets where the paired t test (per dataset, seeds
    paired) is significant after Holm over the suite's datasets, by the sign of the mean
    difference; untestable datasets are ties. ``median_diff``: median over datasets of the
    mean paired difference. ``gap_closed_*``: median and quartiles of the share of each
    dataset's Light -> Heavy gap closed (over ``gap_datasets`` datasets where Heavy beats
    Light). ``wilcoxon_*``: across datasets. ``mean_rank`` among all models (Friedman over
    the datasets holding every model), ``rank_verdict`` by Nemenyi's critical difference
    against the baseline's mean rank. Columns exactly ``SUITE_COLUMNS``.
    """
    runs = list(records)
    groups = group_by_model(runs)
    models = list(dict.fromkeys(model for _, model in groups))
    light_label, heavy_label = model_label(*LIGHT_BASELINE), model_label(*HEAVY_BASELINE)
    rows: list[dict[str, object]] = []
    for metric in metrics:
        means = _dataset_means(runs, metric)
        ranking = friedman_test(means, settings.alpha) if means.shape[1] >= 2 else None
        for arch, act in baselines:
            base_label = model_label(arch, act)
            if base_label not in models:
                continue
            for model in models:
                if model == base_label:
                    continue
                rows.append(
                    _suite_row(
                        groups,
                        means,
                        ranking,
                        model,
                        base_label,
                        metric,
                        settings,
                        light_label,
                        heavy_label,
                    )
                )
    table = pd.DataFrame(rows, columns=list(SUITE_COLUMNS))
    for column in ("n_datasets", "wins", "ties", "losses", "gap_datasets", "rank_datasets"):
        table[column] = table[column].astype("int64")
    return table


def _suite_row(
    groups: dict[tuple[str, str], list],
    means: pd.DataFrame,
    ranking: FriedmanTest | None,
    model: str,
    base_label: str,
    metric: str,
    settings: StatisticsSettings,
    light_label: str,
    heavy_label: str,
) -> dict[str, object]:
    datasets = [ds for ds, m in groups if m == model and (ds, base_label) in groups]
    tests = [
        paired_test(
            list(seed_differences(groups[(ds, model)], groups[(ds, base_label)], metric).values()),
            settings,
        )
        for ds in datasets
    ]
    p = [t.p_t if t.n_pairs >= settings.min_pairs else math.nan for t in tests]
    adjusted = holm(p)
    wins = sum(
        1 for t, q in zip(tests, adjusted, strict=True) if q < settings.alpha and t.mean_diff > 0
    )
    losses = sum(
        1 for t, q in zip(tests, adjusted, strict=True) if q < settings.alpha and t.mean_diff < 0
    )
    diffs = [t.mean_diff for t in tests if not math.isnan(t.mean_diff)]
    wilcoxon = wilcoxon_across(diffs, settings.alpha)
    shares = [
        gap_closed(means.at[ds, model], means.at[ds, light_label], means.at[ds, heavy_label])
        for ds in datasets
        if light_label in means.columns and heavy_label in means.columns
    ]
    shares = [s for s in shares if not math.isnan(s)]
    q1, med, q3 = np.percentile(shares, [25, 50, 75]) if shares else (math.nan,) * 3
    return {
        "model": model,
        "baseline": base_label,
        "metric": metric,
        "n_datasets": len(datasets),
        "wins": wins,
        "ties": len(datasets) - wins - losses,
        "losses": losses,
        "median_diff": float(np.median(diffs)) if diffs else math.nan,
        "gap_closed_median": float(med),
        "gap_closed_q1": float(q1),
        "gap_closed_q3": float(q3),
        "gap_datasets": len(shares),
        "wilcoxon_statistic": wilcoxon.statistic,
        "wilcoxon_p": wilcoxon.p_value,
        "wilcoxon_verdict": wilcoxon.verdict,
        **_rank_columns(ranking, model, base_label),
    }


def _rank_columns(ranking: FriedmanTest | None, model: str, base_label: str) -> dict[str, object]:
    if ranking is None or model not in ranking.mean_ranks:
        return {
            "mean_rank": math.nan,
            "baseline_mean_rank": math.nan,
            "rank_datasets": 0,
            "friedman_p": math.nan,
            "critical_difference": math.nan,
            "rank_verdict": NOT_DECIDABLE,
        }
    mine, theirs = ranking.mean_ranks[model], ranking.mean_ranks[base_label]
    if not ranking.decidable:
        verdict = f"{NOT_DECIDABLE}: needs {ranking.datasets_needed} datasets"
    elif ranking.p_value >= ranking.alpha or abs(mine - theirs) <= ranking.critical_difference:
        verdict = "no difference"
    else:
        verdict = "better" if mine < theirs else "worse"
    return {
        "mean_rank": mine,
        "baseline_mean_rank": theirs,
        "rank_datasets": ranking.n_datasets,
        "friedman_p": ranking.p_value,
        "critical_difference": ranking.critical_difference,
        "rank_verdict": verdict,
    }


def suite_ranking(
    records: Iterable[RecordLike], metric: str = "auc", alpha: float = 0.05
) -> FriedmanTest:
    """Friedman + Nemenyi over every model of the suite on ``metric`` (the CD diagram's
    input)."""
    return friedman_test(_dataset_means(list(records), metric), alpha)


def verdict_sentence(row: pd.Series | dict) -> str:
    """One sentence a reader can act on for one row of ``suite_statistics``."""
    metric = "AUC" if row["metric"] == "auc" else "accuracy"
    verdict = str(row["wilcoxon_verdict"])
    if verdict.startswith(NOT_DECIDABLE):
        head = f"{row['model']} vs {row['baseline']} ({metric}): {verdict} across datasets"
    elif verdict == "no difference":
        head = (
            f"{row['model']} is not distinguishable from {row['baseline']} on {metric} "
            f"across {row['n_datasets']} datasets (Wilcoxon p = {row['wilcoxon_p']:.3g})"
        )
    else:
        head = (
            f"{row['model']} is {verdict} than {row['baseline']} on {metric} across "
            f"{row['n_datasets']} datasets (Wilcoxon p = {row['wilcoxon_p']:.3g})"
        )
    tail = (
        f"; {row['wins']} wins / {row['ties']} ties / {row['losses']} losses per dataset "
        f"(Holm), median difference {row['median_diff']:+.4f}"
    )
    if not math.isnan(float(row["gap_closed_median"])):
        tail += f", closes a median {float(row['gap_closed_median']):.0%} of the Light-Heavy gap"
    return head + tail + "."


def configuration_sentence(suite: pd.DataFrame, model: str, metric: str = "auc") -> str:
    """One sentence on ``model`` over the suite: against each baseline, the verdict across
    datasets with its p and the per-dataset wins / ties / losses, then the gap it closes."""
    rows = suite[(suite["model"] == model) & (suite["metric"] == metric)]
    unit = "AUC" if metric == "auc" else "accuracy"
    parts = []
    for r in rows.to_dict("records"):
        verdict = str(r["wilcoxon_verdict"])
        if verdict.startswith(NOT_DECIDABLE):
            said = f"against {r['baseline']} {verdict}"
        else:
            words = {"better": "better than", "worse": "worse than"}
            word = words.get(verdict, "no different from")
            said = f"{word} {r['baseline']} (Wilcoxon p = {r['wilcoxon_p']:.3g})"
        parts.append(
            f"{said}, {r['wins']} wins / {r['ties']} ties / {r['losses']} losses "
            f"over {r['n_datasets']} datasets"
        )
    if not parts:
        return f"{model}: no baseline to compare with."
    sentence = f"{model} on {unit}: " + "; ".join(parts)
    gap = rows["gap_closed_median"].dropna()
    if not gap.empty:
        r = rows.loc[gap.index[0]]
        sentence += (
            f"; it closes a median {r['gap_closed_median']:.0%} (IQR "
            f"{r['gap_closed_q1']:.0%} to {r['gap_closed_q3']:.0%}) of the Light ReLU to "
            "Heavy ReLU gap"
        )
    return sentence + "."
