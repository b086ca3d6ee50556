"""Transfer, measured: a search's finalists judged across a group of datasets.

A search over several datasets can hold some out (``--holdout``): nothing is trained on
them before the verdict, where every finalist is trained on their training part and scored
on their test part like on any dataset. Whether a finalist *transfers* is then a question
across datasets, asked with the suite's statistics (``report.suite``, Demšar 2006): per
held-out dataset the mean paired difference by seed to a baseline and its paired t p-value,
Holm's step-down over the group's datasets (one family per finalist and baseline, as
``suite_statistics`` does), counted as wins / ties / losses; and Wilcoxon's signed-rank test
of the per-dataset mean differences across the datasets. Two baselines: Light ReLU (the
paper's question: does the found function beat the default?) and each dataset's best
baseline by validation (the verdict's: does it beat what a user would have picked?).

The same summary is made for the searched datasets (group ``searched``) — there it measures
fit, not transfer — and for the held-out ones (group ``held out``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from symact.report.statistics import holm
from symact.report.suite import wilcoxon_across
from symact.search.verdict import is_finalist

#: Holm's family-wise level (the verdict's)
ALPHA = 0.05
LIGHT_RELU = "Light ReLU"
BEST = "best baseline"

MATRIX_COLUMNS = (
    "group",
    "dataset",
    "finalist",
    "formula",
    "baseline",
    "baseline_activation",
    "diff",
    "ci_low",
    "ci_high",
    "p_value",
    "p_holm",
    "cell",
)
SUMMARY_COLUMNS = (
    "group",
    "finalist",
    "formula",
    "baseline",
    "n_datasets",
    "wins",
    "ties",
    "losses",
    "median_diff",
    "wilcoxon_statistic",
    "wilcoxon_p",
    "wilcoxon_verdict",
)


def cell(diff: float, p_holm: float) -> str:
    """A matrix cell's verdict at Holm's level: better, worse, tie, or untestable (no p)."""
    if math.isnan(p_holm) or math.isnan(diff):
        return "untestable"
    if p_holm < ALPHA:
        return "better" if diff > 0 else "worse"
    return "tie"


def transfer_matrix(
    versus_best: pd.DataFrame, versus_relu: pd.DataFrame, groups: dict[str, Sequence[str]]
) -> pd.DataFrame:
    """Dataset x finalist x baseline: the mean difference on test with its interval and
    p-value (from the verdict's rows, ``search_results.csv`` and its ReLU twin), Holm over
    the datasets of each group (``groups``: name -> dataset labels)."""
    rows: list[dict[str, Any]] = []
    for group, labels in groups.items():
        for baseline, table in ((LIGHT_RELU, versus_relu), (BEST, versus_best)):
            mine = table[table["dataset"].isin(labels) & table["activation"].map(is_finalist)]
            for finalist in dict.fromkeys(mine["activation"]):
                cells = (
                    mine[mine["activation"] == finalist]
                    .set_index("dataset")
                    .reindex([label for label in labels if label in set(mine["dataset"])])
                )
                adjusted = holm([float(p) for p in cells["p_value"]])
                for (label, r), q in zip(cells.iterrows(), adjusted, strict=True):
                    diff = float(r["diff_vs_best_baseline"])
                    rows.append(
                        {
                            "group": group,
                            "dataset": label,
                            "finalist": finalist,
                            "formula": r["formula"],
                            "baseline": baseline,
                            "baseline_activation": r["best_baseline"],
                            "diff": diff,
                            "ci_low": float(r["ci_low"]),
                            "ci_high": float(r["ci_high"]),
                            "p_value": float(r["p_value"]),
                            "p_holm": float(q),
                            "cell": cell(diff, float(q)),
                        }
                    )
    return pd.DataFrame(rows, columns=list(MATRIX_COLUMNS))


def transfer_summary(matrix: pd.DataFrame) -> pd.DataFrame:
    """Per group, finalist and baseline: wins / ties / losses (Holm over the datasets) and
    Wilcoxon's signed-rank test of the per-dataset mean differences across the datasets
    (``report.suite.wilcoxon_across``: not decidable below the datasets it needs)."""
    rows = []
    keys = ["group", "finalist", "baseline"]
    for (group, finalist, baseline), cells in matrix.groupby(keys, sort=False):
        diffs = [d for d in cells["diff"] if not math.isnan(d)]
        test = wilcoxon_across(diffs, ALPHA)
        rows.append(
            {
                "group": group,
                "finalist": finalist,
                "formula": cells["formula"].iloc[0],
                "baseline": baseline,
                "n_datasets": len(cells),
                "wins": int((cells["cell"] == "better").sum()),
                "ties": int(cells["cell"].isin(["tie", "untestable"]).sum()),
                "losses": int((cells["cell"] == "worse").sum()),
                "median_diff": float(np.median(diffs)) if diffs else math.nan,
                "wilcoxon_statistic": test.statistic,
                "wilcoxon_p": test.p_value,
                "wilcoxon_verdict": test.verdict,
            }
        )
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def transfer_sentences(summary: pd.DataFrame, metric: str) -> list[str]:
    """One sentence per (finalist, baseline) of ``summary``'s held-out group (transfer, the
    question a suite search with held-out datasets asks), or of its searched group where
    none was held out; the other group stays in the tables."""
    out = []
    records = summary.to_dict("records")
    group = "held out" if any(r["group"] == "held out" for r in records) else "searched"
    for r in (r for r in records if r["group"] == group):
        where = "held-out" if r["group"] == "held out" else "searched"
        p = "" if math.isnan(r["wilcoxon_p"]) else f", Wilcoxon p = {r['wilcoxon_p']:.3g}"
        out.append(
            f"Across the {r['n_datasets']} {where} datasets, {r['finalist']} ({r['formula']}) "
            f"against {r['baseline']}: {r['wilcoxon_verdict']}{p}; median difference "
            f"{r['median_diff']:+.4f} {metric}; {r['wins']} wins / {r['ties']} ties / "
            f"{r['losses']} losses (paired t per dataset, Holm over the datasets)."
        )
    return out
