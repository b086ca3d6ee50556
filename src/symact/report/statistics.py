"""Paired statistics beside the paper's Efficiency score, so its claims can be judged.

Efficiency = AUC / log10(params) mostly restates the parameter ratio: a light model with the
heavy model's AUC already "gains" log10(P_heavy) / log10(P_light) - 1 (+22% on HIGGS). This
module reports, per dataset and configuration, what the runs actually show against fixed
baselines (Heavy ReLU and Light ReLU; never one chosen by its test score): accuracy and AUC
differences paired by seed (runs of one dataset and seed share one split), their mean with a
Student-t and a seeded bootstrap interval, the paired t and Wilcoxon signed-rank p-values, and
Holm's step-down adjustment within each family (one dataset, one baseline, one metric).

Every test and interval comes from scipy.stats; only Holm's adjustment (a few lines of
arithmetic on p-values: scipy offers Benjamini-Hochberg, not Holm) is written here. With
few seeds the tests often cannot decide: the smallest two-sided Wilcoxon p with n pairs is
2/2^n (0.25 with 3 seeds), so rows with fewer than ``min_pairs`` pairs are "untestable" and
left out of Holm's families.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from symact.report.tables import (
    HEAVY_BASELINE,
    LIGHT_BASELINE,
    RecordLike,
    RunRecord,
    as_records,
    configuration_rank,
    model_label,
    shared_params,
)
from symact.training.metrics import efficiency

PAIRED_COLUMNS: tuple[str, ...] = (
    "dataset",
    "architecture",
    "activation",
    "baseline",
    "n_pairs",
    "acc_diff_mean",
    "acc_diff_ci_low",
    "acc_diff_ci_high",
    "auc_diff_mean",
    "auc_diff_ci_low",
    "auc_diff_ci_high",
    "params",
    "baseline_params",
    "efficiency_gain",
    "param_ratio_gain",
)


def mean_confidence_interval(
    values: Iterable[float], confidence: float = 0.95
) -> tuple[float, float, float]:
    """Mean and two-sided Student-t confidence interval of ``values`` (mean, low, high).

    The interval uses the sample std (ddof=1): that is what a t-interval needs, unlike the
    population std the results table reports. Fewer than two values give a NaN interval (no
    spread can be estimated); zero spread gives the degenerate interval [mean, mean].
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    x = np.asarray(list(values), dtype=np.float64)
    if x.size == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if x.size < 2:
        return (mean, math.nan, math.nan)
    if float(np.ptp(x)) <= ZERO_SPREAD:  # scipy's t is undefined without spread
        return (mean, mean, mean)
    ci = stats.ttest_1samp(x, popmean=0.0).confidence_interval(confidence)
    return (mean, float(ci.low), float(ci.high))


def param_ratio_gain(baseline_params: int, params: int) -> float:
    """Efficiency gain a model with the baseline's exact AUC gets from its size alone.

    (AUC / log10 P) / (AUC / log10 P_base) - 1 = log10(P_base) / log10(P) - 1.
    """
    return math.log10(baseline_params) / math.log10(params) - 1.0


def _by_seed(runs: list[RunRecord]) -> dict[int, RunRecord]:
    return {r.seed: r for r in runs if not r.failed}


def paired_differences(
    records: Iterable[RecordLike],
    baseline: tuple[str, str] = HEAVY_BASELINE,
    *,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Differences (configuration - baseline) in accuracy and AUC, paired by seed.

    For every dataset that has the ``baseline`` (architecture, activation) and every other
    configuration on it: the seeds where both runs finished (failed runs drop their pair) give
    ``n_pairs`` differences; their mean and a ``confidence`` Student-t interval (NaN with fewer
    than 2 pairs). With 3 seeds the interval is wide by design: t(0.975, 2) = 4.30.
    ``efficiency_gain`` is the paper's relative Efficiency gain over the baseline, computed on
    the paired seeds only; ``param_ratio_gain`` is the part the parameter counts alone produce
    (equal AUC). Columns: ``PAIRED_COLUMNS``.
    """
    runs = as_records(records)
    groups: dict[tuple[str, str, str], list[RunRecord]] = {}
    for r in runs:
        groups.setdefault((r.dataset, r.architecture, r.activation), []).append(r)
    if not any((a, b) == tuple(baseline) for _, a, b in groups):
        raise ValueError(
            f"baseline configuration {tuple(baseline)} does not occur in the runs; pass one of "
            f"{sorted({(a, b) for _, a, b in groups})}"
        )
    label = f"{baseline[0]} {baseline[1]}"
    rows = []
    ordered = sorted(groups.items(), key=lambda kv: (kv[0][0], configuration_rank(kv[0][1:])))
    for (dataset, arch, act), group in ordered:
        base_key = (dataset, baseline[0], baseline[1])
        if (arch, act) == tuple(baseline) or base_key not in groups:
            continue
        base = _by_seed(groups[base_key])
        mine = _by_seed(group)
        seeds = sorted(set(base) & set(mine))
        acc = [mine[s].accuracy - base[s].accuracy for s in seeds]
        auc = [mine[s].auc - base[s].auc for s in seeds]
        acc_m, acc_lo, acc_hi = mean_confidence_interval(acc, confidence)
        auc_m, auc_lo, auc_hi = mean_confidence_interval(auc, confidence)
        p = shared_params((dataset, arch, act), group)
        p_base = shared_params(base_key, groups[base_key])
        if seeds:
            eff = efficiency(float(np.mean([mine[s].auc for s in seeds])), p)
            eff_base = efficiency(float(np.mean([base[s].auc for s in seeds])), p_base)
            gain = eff / eff_base - 1.0
        else:
            gain = math.nan
        rows.append(
            {
                "dataset": dataset,
                "architecture": arch,
                "activation": act,
                "baseline": label,
                "n_pairs": len(seeds),
                "acc_diff_mean": acc_m,
                "acc_diff_ci_low": acc_lo,
                "acc_diff_ci_high": acc_hi,
                "auc_diff_mean": auc_m,
                "auc_diff_ci_low": auc_lo,
                "auc_diff_ci_high": auc_hi,
                "params": p,
                "baseline_params": p_base,
                "efficiency_gain": gain,
                "param_ratio_gain": param_ratio_gain(p_base, p),
            }
        )
    table = pd.DataFrame(rows, columns=list(PAIRED_COLUMNS))
    return table.astype({"n_pairs": "int64", "params": "int64", "baseline_params": "int64"})


# ---------------------------------------------------------------------------------------------
# Paired tests of every configuration against fixed baselines: statistics.csv and runs.csv.

BASELINES: tuple[tuple[str, str], ...] = (HEAVY_BASELINE, LIGHT_BASELINE)
METRICS: tuple[str, ...] = ("accuracy", "auc")

STATISTICS_COLUMNS: tuple[str, ...] = (
    "dataset",
    "model",
    "baseline",
    "metric",
    "n_pairs",
    "mean_diff",
    "ci_low",
    "ci_high",
    "ci_boot_low",
    "ci_boot_high",
    "p_t",
    "p_wilcoxon",
    "p_holm",
    "significant",
)

RUNS_COLUMNS: tuple[str, ...] = (
    "dataset",
    "model",
    "seed",
    "accuracy",
    "auc",
    "failed",
    "epochs_run",
    "best_epoch",
)

# Metric values are fractions of a finite test set, so two seeds' differences are often equal in
# exact arithmetic but not in floating point. Differences are rounded to this many decimals
# before the rank test (ties must be seen as ties) and spreads below ZERO_SPREAD count as none.
_DIFF_DECIMALS = 12
ZERO_SPREAD = 1e-12
# scipy.stats.wilcoxon's method="auto" enumerates sign flips exactly up to this many pairs when
# there are ties or zeros (and uses the normal approximation beyond).
_EXHAUSTIVE_PAIRS = 13


@dataclass(frozen=True)
class StatisticsSettings:
    """How the paired statistics are computed; recorded beside every table they produce.

    ``bootstrap_seed`` seeds a fresh ``numpy.random.default_rng`` for each comparison, so a
    row's bootstrap interval depends only on its own differences and this seed, never on the
    order in which rows are computed. ``min_pairs``: fewer pairs make a row "untestable".
    """

    confidence: float = 0.95
    alpha: float = 0.05
    bootstrap_seed: int = 0
    n_resamples: int = 9999
    bootstrap_method: str = "percentile"
    min_pairs: int = 3

    def __post_init__(self) -> None:
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"confidence must lie strictly between 0 and 1, got {self.confidence}")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must lie strictly between 0 and 1, got {self.alpha}")
        if self.n_resamples < 100:
            raise ValueError(f"n_resamples must be at least 100, got {self.n_resamples}")
        if self.bootstrap_method not in ("percentile", "basic", "BCa"):
            raise ValueError(
                f"bootstrap_method must be 'percentile', 'basic' or 'BCa', "
                f"got {self.bootstrap_method!r}"
            )
        if self.min_pairs < 2:
            raise ValueError(f"min_pairs must be at least 2, got {self.min_pairs}")

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


DEFAULT_SETTINGS = StatisticsSettings()


@dataclass(frozen=True)
class PairedTest:
    """One paired comparison: differences (model - baseline) summarised and tested.

    NaN where a number cannot be computed: intervals need 2 pairs, tests need 2 pairs and some
    spread (a constant non-zero difference leaves the t statistic undefined). All-zero
    differences give p = 1 for both tests: the runs show no difference at all.
    """

    n_pairs: int
    mean_diff: float
    ci_low: float
    ci_high: float
    ci_boot_low: float
    ci_boot_high: float
    p_t: float
    p_wilcoxon: float


def smallest_wilcoxon_p(n_pairs: int) -> float:
    """Smallest two-sided p the exact Wilcoxon signed-rank test can give with ``n_pairs``
    pairs: 2 / 2^n (every difference of one sign). Below 6 pairs it exceeds 0.05."""
    if n_pairs < 1:
        return 1.0
    return min(1.0, 2.0 / 2.0**n_pairs)


def pairs_needed(alpha: float = 0.05, family_size: int = 1) -> int:
    """Fewest pairs with which Wilcoxon can reach ``alpha`` as the first step of Holm's
    procedure over ``family_size`` tests (family_size * 2 / 2^n <= alpha)."""
    n = 1
    while family_size * smallest_wilcoxon_p(n) > alpha:
        n += 1
    return n


def paired_test(
    differences: Sequence[float],
    settings: StatisticsSettings = DEFAULT_SETTINGS,
    *,
    null: float = 0.0,
) -> PairedTest:
    """Mean of the paired ``differences``, its t and bootstrap intervals, and the paired t and
    Wilcoxon signed-rank p-values of H0: mean (or median) difference == ``null``.

    The t-interval and test use scipy.stats.t (sample std, ddof=1); the bootstrap interval is
    scipy.stats.bootstrap of the mean with ``settings.bootstrap_seed``; Wilcoxon is
    scipy.stats.wilcoxon with method="auto": exact up to 50 pairs without ties or zeros,
    exhaustive permutations up to 13 pairs with them, the normal approximation beyond. Zeros
    (after subtracting ``null``) are discarded, as Wilcoxon proposed.
    """
    d = np.asarray(list(differences), dtype=np.float64)
    if not np.isfinite(d).all():
        raise ValueError("paired differences must be finite; drop the pairs of failed runs")
    n = int(d.size)
    mean, ci_low, ci_high = mean_confidence_interval(d, settings.confidence)
    if n < 2:
        return PairedTest(n, mean, ci_low, ci_high, math.nan, math.nan, math.nan, math.nan)
    shifted = np.round(d - null, _DIFF_DECIMALS)
    if float(np.ptp(d)) <= ZERO_SPREAD:
        # No spread: both intervals collapse onto the mean. With the mean at the null there is
        # nothing to test (p = 1); away from it the t statistic is +-inf/undefined and Wilcoxon
        # sees n equal signs, which scipy handles exactly.
        boot = (mean, mean)
        if bool(np.all(shifted == 0.0)):
            return PairedTest(n, mean, mean, mean, *boot, 1.0, 1.0)
        p_w = float(stats.wilcoxon(shifted, method="auto").pvalue)
        return PairedTest(n, mean, mean, mean, *boot, math.nan, p_w)
    p_t = float(stats.ttest_1samp(d, popmean=null).pvalue)
    p_w = 1.0 if bool(np.all(shifted == 0.0)) else _wilcoxon_p(shifted)
    boot_low, boot_high = _bootstrap_mean(d, settings)
    return PairedTest(n, mean, ci_low, ci_high, boot_low, boot_high, p_t, p_w)


def _wilcoxon_p(shifted: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p of ``shifted`` (zeros discarded), as
    ``scipy.stats.wilcoxon(shifted, method="auto")`` computes it.

    With ties or zeros and at most 13 pairs scipy enumerates all 2^n sign flips, calling its
    statistic once per flip (about 0.25 s for 10 pairs). The ranks of |d| do not change under
    a sign flip, so here the same exhaustive ``scipy.stats.permutation_test`` runs with a
    vectorised statistic (the sum of the positive ranks): the same p, a hundred times faster
    (tested against scipy.stats.wilcoxon on the stored runs).
    """
    nonzero = shifted[shifted != 0.0]
    if nonzero.size < 2:  # one signed rank: both signs equally likely, two-sided p = 1
        return 1.0
    magnitudes = np.abs(nonzero)
    ties_or_zeros = nonzero.size < shifted.size or np.unique(magnitudes).size < nonzero.size
    if not ties_or_zeros or nonzero.size > _EXHAUSTIVE_PAIRS:
        return float(stats.wilcoxon(shifted, method="auto").pvalue)
    ranks = stats.rankdata(magnitudes)

    def positive_rank_sum(x: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.sum(ranks * (x > 0.0), axis=axis)

    result = stats.permutation_test(
        (nonzero,),
        positive_rank_sum,
        permutation_type="samples",
        vectorized=True,
        n_resamples=np.inf,
        alternative="two-sided",
    )
    return float(result.pvalue)


def _bootstrap_mean(d: np.ndarray, settings: StatisticsSettings) -> tuple[float, float]:
    result = stats.bootstrap(
        (d,),
        np.mean,
        n_resamples=settings.n_resamples,
        confidence_level=settings.confidence,
        method=settings.bootstrap_method,
        vectorized=True,
        rng=np.random.default_rng(settings.bootstrap_seed),
    )
    ci = result.confidence_interval
    return (float(ci.low), float(ci.high))


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation of paired values, the pairs with a non-finite side left
    out; None with fewer than three pairs or where either side is constant (undefined)."""
    pairs = [(a, b) for a, b in zip(x, y, strict=True) if math.isfinite(a) and math.isfinite(b)]
    if len(pairs) < 3 or len({a for a, _ in pairs}) < 2 or len({b for _, b in pairs}) < 2:
        return None
    rho = stats.spearmanr([a for a, _ in pairs], [b for _, b in pairs]).statistic
    return None if math.isnan(rho) else float(rho)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's (1979) step-down adjusted p-values, in the order given.

    Sorted ascending, the i-th smallest of m p-values (i from 1) becomes
    max over j <= i of min(1, (m - j + 1) * p_(j)): monotone in the sorted order and capped at
    1, so "adjusted p < alpha" is exactly Holm's rejection rule. NaN entries are not tests:
    they stay NaN and do not count in m.
    """
    p = np.asarray(list(p_values), dtype=np.float64)
    if ((p < 0.0) | (p > 1.0)).any():
        raise ValueError(f"p-values must lie in [0, 1], got {p[(p < 0.0) | (p > 1.0)]}")
    adjusted = np.full(p.shape, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    m = tested.size
    if m == 0:
        return adjusted
    order = tested[np.argsort(p[tested], kind="stable")]
    steps = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted[order] = np.maximum.accumulate(steps)
    return adjusted


def significance(n_pairs: int, p_holm: float, settings: StatisticsSettings) -> str:
    """ "yes" / "no" at ``settings.alpha`` on Holm's adjusted p; "untestable" with fewer than
    ``settings.min_pairs`` pairs or no p-value (a constant difference)."""
    if n_pairs < settings.min_pairs or math.isnan(p_holm):
        return "untestable"
    return "yes" if p_holm < settings.alpha else "no"


def metric_value(record: RunRecord, metric: str) -> float:
    """``record.accuracy`` or ``record.auc`` by name; refuses any other metric."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    return float(getattr(record, metric))


def seed_differences(
    mine: Iterable[RunRecord], base: Iterable[RunRecord], metric: str
) -> dict[int, float]:
    """``metric`` of ``mine`` minus ``base``, by seed, on the seeds where both finished.

    A failed run drops its pair; a seed present on one side only has no pair.
    """
    ours = {r.seed: r for r in mine if not r.failed}
    theirs = {r.seed: r for r in base if not r.failed}
    return {
        s: metric_value(ours[s], metric) - metric_value(theirs[s], metric)
        for s in sorted(set(ours) & set(theirs))
    }


def group_by_model(records: Iterable[RecordLike]) -> dict[tuple[str, str], list[RunRecord]]:
    """Runs by (dataset, model label), datasets alphabetically, models in the reference's run
    order (Heavy, Light ReLU/GELU/SiLU, Specialist, Transfer), any other label after them."""
    groups: dict[tuple[str, str], list[RunRecord]] = {}
    rank: dict[tuple[str, str], tuple[int, str]] = {}
    for r in as_records(records):
        key = (r.dataset, r.model)
        groups.setdefault(key, []).append(r)
        rank[key] = (configuration_rank(r.configuration), r.model)
    return {k: groups[k] for k in sorted(groups, key=lambda k: (k[0], *rank[k]))}


def statistics_table(
    records: Iterable[RecordLike],
    *,
    baselines: Sequence[tuple[str, str]] = BASELINES,
    metrics: Sequence[str] = METRICS,
    settings: StatisticsSettings = DEFAULT_SETTINGS,
) -> pd.DataFrame:
    """``statistics.csv``: every configuration against each fixed baseline, per metric.

    One row per (dataset, model, baseline, metric) where the dataset has the baseline; no row
    compares a configuration with itself. ``mean_diff`` and the intervals are in raw metric
    units (model - baseline), paired by seed; ``p_holm`` applies Holm's step-down to ``p_t``
    within each family (dataset, baseline, metric) over the testable rows (at least
    ``settings.min_pairs`` pairs and a p-value). Columns exactly ``STATISTICS_COLUMNS``; the
    settings used are in ``table.attrs["settings"]``.
    """
    for metric in metrics:
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    groups = group_by_model(records)
    rows: list[dict[str, object]] = []
    for dataset in dict.fromkeys(ds for ds, _ in groups):
        for arch, act in baselines:
            base_label = model_label(arch, act)
            base = groups.get((dataset, base_label))
            if base is None:
                continue
            for metric in metrics:
                family = []
                for (ds, model), runs in groups.items():
                    if ds != dataset or model == base_label:
                        continue
                    diffs = seed_differences(runs, base, metric)
                    test = paired_test(list(diffs.values()), settings)
                    family.append(
                        {
                            "dataset": ds,
                            "model": model,
                            "baseline": base_label,
                            "metric": metric,
                            **asdict(test),
                        }
                    )
                _adjust_family(family, settings)
                rows.extend(family)
    table = pd.DataFrame(rows, columns=list(STATISTICS_COLUMNS))
    table = table.astype({"n_pairs": "int64"})
    table.attrs["settings"] = settings.as_dict()
    return table


def _adjust_family(family: list[dict[str, object]], settings: StatisticsSettings) -> None:
    """Fill ``p_holm`` and ``significant`` in place for one family of comparisons."""
    p = [
        float(row["p_t"]) if int(row["n_pairs"]) >= settings.min_pairs else math.nan
        for row in family
    ]
    for row, p_holm in zip(family, holm(p), strict=True):
        row["p_holm"] = float(p_holm)
        row["significant"] = significance(int(row["n_pairs"]), float(p_holm), settings)


def runs_table(records: Iterable[RecordLike]) -> pd.DataFrame:
    """``runs.csv``: one row per run with the statistics table's model labels, so every paired
    difference can be recomputed from it. Columns exactly ``RUNS_COLUMNS``; failed runs keep
    their row (metrics NaN or as recorded) and ``failed`` True."""
    rows = [
        {
            "dataset": r.dataset,
            "model": r.model,
            "seed": r.seed,
            "accuracy": r.accuracy,
            "auc": r.auc,
            "failed": r.failed,
            "epochs_run": getattr(r, "epochs_run", 0),
            "best_epoch": getattr(r, "best_epoch", 0),
        }
        for runs in group_by_model(records).values()
        for r in sorted(runs, key=lambda r: r.seed)
    ]
    table = pd.DataFrame(rows, columns=list(RUNS_COLUMNS))
    return table.astype(
        {
            "seed": "int64",
            "accuracy": "float64",
            "auc": "float64",
            "failed": "bool",
            "epochs_run": "int64",
            "best_epoch": "int64",
        }
    )
