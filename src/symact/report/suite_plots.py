"""Figures of the verdict across datasets: a critical-difference diagram, a forest plot per
configuration and accuracy against parameters across the suite (a Pareto view).

Built like ``plots.py``: matplotlib's object API, user text drawn literally (no mathtext).
Each ``*_figure`` function returns the figure (tests look at its artists); ``plot_*`` saves it.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from symact.report.claims import CONTRADICTS, SUPPORTS, Judgement
from symact.report.plots import _save
from symact.report.suite import FriedmanTest
from symact.report.tables import RecordLike, as_records, model_label

BASELINE_COLOURS = {"Light ReLU": "#ff7f0e", "Heavy ReLU": "#1f77b4"}
#: colours of other baselines, in order of appearance
FOREST_COLOURS = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2")


def cliques(ranks: dict[str, float], cd: float) -> list[list[str]]:
    """Maximal groups of models whose mean ranks lie within ``cd`` of each other (the bars of
    a critical-difference diagram), best rank first; singletons are left out."""
    ordered = sorted(ranks, key=ranks.get)
    groups: list[list[str]] = []
    last_end = -1
    for i, start in enumerate(ordered):
        end = i
        while end + 1 < len(ordered) and ranks[ordered[end + 1]] - ranks[start] <= cd:
            end += 1
        if end > i and end > last_end:
            groups.append(ordered[i : end + 1])
            last_end = end
    return groups


def critical_difference_figure(ranking: FriedmanTest, metric: str = "AUC") -> Figure:
    """Demšar's diagram: the rank axis (1 best, at the left), each model at its mean rank,
    Nemenyi's critical difference as a bar above, and a thick line under every group of
    models the test cannot tell apart."""
    ranks = ranking.mean_ranks
    k = len(ranks)
    ordered = sorted(ranks, key=ranks.get)
    half = (k + 1) // 2
    height = 1.6 + 0.32 * max(half, k - half)
    fig = Figure(figsize=(6.4, height), layout="constrained")
    ax = fig.add_subplot()
    ax.set_xlim(0.5, k + 0.5)
    ax.set_ylim(-0.35 * (max(half, k - half) + 1.5), 1.1)
    ax.axis("off")
    ax.hlines(0.0, 1, k, color="black", linewidth=1)
    for r in range(1, k + 1):
        ax.vlines(r, 0.0, 0.08, color="black", linewidth=1)
        ax.text(r, 0.13, str(r), ha="center", va="bottom", fontsize=9)
    for i, name in enumerate(ordered):
        left = i < half
        level = -0.35 * ((i if left else k - 1 - i) + 1)
        x_text = 0.55 if left else k + 0.45
        ax.plot([ranks[name], ranks[name], x_text], [0.0, level, level], color="black", lw=0.8)
        ax.text(
            x_text,
            level + 0.04,
            f"{textwrap.shorten(name, width=36, placeholder='...')} ({ranks[name]:.2f})",
            ha="left" if left else "right",
            va="bottom",
            fontsize=9,
            parse_math=False,
        )
    cd = ranking.critical_difference
    if np.isfinite(cd):
        ax.plot([1, 1 + cd], [0.75, 0.75], color="black", lw=2)
        ax.text(1 + cd / 2, 0.8, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=9)
        for j, group in enumerate(cliques(ranks, cd)):
            y = -0.12 - 0.07 * j
            ax.plot([ranks[group[0]] - 0.03, ranks[group[-1]] + 0.03], [y, y], lw=4, color="0.3")
    ax.set_title(
        f"Mean rank on {metric} over {ranking.n_datasets} datasets (1 = best), Friedman "
        f"p = {ranking.p_value:.3g}\nbars join models Nemenyi cannot tell apart",
        fontsize=9,
    )
    return fig


def plot_critical_difference(ranking: FriedmanTest, path: str | Path, metric: str = "AUC") -> Path:
    return _save(critical_difference_figure(ranking, metric), path)


def forest_figure(statistics: pd.DataFrame, model: str, metric: str = "auc") -> Figure:
    """Per-dataset mean difference (``model`` minus each baseline) with its 95% t-interval,
    one row per dataset, one colour per baseline; filled markers are significant (Holm)."""
    rows = statistics[(statistics["model"] == model) & (statistics["metric"] == metric)]
    title = textwrap.shorten(model, width=42, placeholder="...")
    return difference_forest_figure(
        rows, "dataset", f"{title}: per dataset (filled: significant, Holm)", metric
    )


def difference_forest_figure(
    rows: pd.DataFrame, label: str, title: str, metric: str = "auc"
) -> Figure:
    """The forest plot every verdict draws: one row per value of column ``label`` (in order of
    appearance), per baseline (column ``baseline``, one colour each) the mean difference
    ``mean_diff`` with its 95% interval ``ci_low``..``ci_high``; filled markers where
    ``significant`` is "yes"."""
    labels = list(dict.fromkeys(rows[label]))
    fig = Figure(figsize=(6.4, 1.3 + 0.22 * max(len(labels), 1)), layout="constrained")
    ax = fig.add_subplot()
    y_of = {name: len(labels) - 1 - i for i, name in enumerate(labels)}
    baselines = list(dict.fromkeys(rows["baseline"]))
    for j, base in enumerate(baselines):
        mine = rows[rows["baseline"] == base]
        offset = 0.15 * (j - (len(baselines) - 1) / 2)
        y = np.array([y_of[d] for d in mine[label]]) + offset
        mean = mine["mean_diff"].to_numpy(dtype=float)
        low = mean - mine["ci_low"].to_numpy(dtype=float)
        high = mine["ci_high"].to_numpy(dtype=float) - mean
        colour = BASELINE_COLOURS.get(base, FOREST_COLOURS[j % len(FOREST_COLOURS)])
        ax.errorbar(
            mean,
            y,
            xerr=np.nan_to_num(np.vstack([low, high])),
            fmt="none",
            ecolor=colour,
            lw=1,
        )
        significant = (mine["significant"] == "yes").to_numpy()
        ax.scatter(mean[significant], y[significant], color=colour, zorder=3, s=22)
        ax.scatter(
            mean[~significant], y[~significant], facecolor="white", edgecolor=colour, zorder=3, s=22
        )
        ax.scatter([], [], color=colour, label=f"vs {base}")
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set_yticks(range(len(labels)), list(reversed(labels)))
    ax.set_ylim(-0.7, len(labels) - 0.3)
    unit = "AUC" if metric == "auc" else "accuracy"
    ax.set_xlabel(f"{unit} minus the baseline's\n(mean over seeds, 95% t-interval)")
    ax.set_title(title, fontsize=10)
    for text in (*ax.get_yticklabels(), ax.title, ax.xaxis.label):
        text.set_parse_math(False)
    legend = ax.legend(loc="best", fontsize=8)
    for text in legend.get_texts():
        text.set_parse_math(False)
    ax.grid(True, axis="x", alpha=0.3)
    return fig


def plot_forest(
    statistics: pd.DataFrame, model: str, path: str | Path, metric: str = "auc"
) -> Path:
    return _save(forest_figure(statistics, model, metric), path)


def plot_difference_forest(
    rows: pd.DataFrame, label: str, title: str, path: str | Path, metric: str = "auc"
) -> Path:
    return _save(difference_forest_figure(rows, label, title, metric), path)


def pareto_points(records: Iterable[RecordLike], metric: str = "auc") -> pd.DataFrame:
    """Per model: median parameter count over datasets and the median, first and third
    quartile over datasets of its mean ``metric`` minus Light ReLU's (0 for Light ReLU)."""
    runs = [r for r in as_records(records) if not r.failed]
    frame = pd.DataFrame(
        {
            "dataset": [r.dataset for r in runs],
            "model": [r.model for r in runs],
            "params": [r.params for r in runs],
            "value": [float(getattr(r, metric)) for r in runs],
        }
    )
    means = frame.groupby(["dataset", "model"], sort=False).mean()
    light = model_label("Light", "ReLU")
    value = means["value"].unstack()
    if light not in value.columns:
        raise ValueError("the Pareto view needs Light ReLU runs to compare against")
    diff = value.sub(value[light], axis=0)
    params = means["params"].unstack()
    out = pd.DataFrame(
        {
            "params": params.median(),
            "median_diff": diff.median(),
            "q1": diff.quantile(0.25),
            "q3": diff.quantile(0.75),
        }
    )
    return out.reindex(list(dict.fromkeys(frame["model"])))


def pareto_front(points: pd.DataFrame) -> list[str]:
    """Models no other model beats with fewer (or as many) parameters and a higher median."""
    front = []
    for name, p in points.iterrows():
        dominated = (
            (points["params"] <= p["params"]) & (points["median_diff"] > p["median_diff"])
        ).any()
        if not dominated:
            front.append(str(name))
    return sorted(front, key=lambda n: points.at[n, "params"])


def pareto_figure(records: Iterable[RecordLike], metric: str = "auc") -> Figure:
    """Median over datasets of each model's gain over Light ReLU (interquartile bars) against
    its median parameter count; the Pareto front is joined."""
    points = pareto_points(records, metric)
    fig = Figure(figsize=(7.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    for name, p in points.iterrows():
        ax.errorbar(
            p["params"],
            p["median_diff"],
            yerr=[[p["median_diff"] - p["q1"]], [p["q3"] - p["median_diff"]]],
            fmt="o",
            capsize=3,
        )
        ax.annotate(
            str(name),
            (p["params"], p["median_diff"]),
            textcoords="offset points",
            xytext=(5, 4),
            fontsize=8,
            annotation_clip=False,
        ).set_parse_math(False)
    front = pareto_front(points)
    ax.plot(points.loc[front, "params"], points.loc[front, "median_diff"], "k--", lw=0.8)
    ax.set_xscale("log")
    ax.axhline(0.0, color="black", lw=0.5)
    unit = "AUC" if metric == "auc" else "accuracy"
    ax.set_xlabel("parameters (median over datasets, log scale)")
    ax.set_ylabel(f"{unit} minus Light ReLU's (median, IQR)")
    ax.set_title("Accuracy against size across the suite (dashed: Pareto front)", fontsize=10)
    ax.grid(True, alpha=0.3)
    return fig


def plot_pareto(records: Sequence[RecordLike], path: str | Path, metric: str = "auc") -> Path:
    return _save(pareto_figure(records, metric), path)


OUTCOME_COLOURS = {SUPPORTS: "#1f77b4", CONTRADICTS: "#d62728"}


def _short(model: str) -> str:
    """ "Light Hybrid (Transfer from HIGGS, discovery seed 42)" -> "Transfer from HIGGS, seed
    42": the claim's figure has room for its rows' distinguishing words only."""
    inner = model.removeprefix("Light Hybrid ").removeprefix("(").removesuffix(")")
    return inner.replace("discovery seed", "seed")


def claim_forest_figure(claim: str, judgement: Judgement) -> Figure:
    """One claim's comparisons: each one's mean paired difference with its 95% t-interval,
    the null the claim is tested against, coloured by outcome (blue supports, red
    contradicts, grey undecided); the verdict in the title."""
    comps = judgement.comparisons
    fig = Figure(figsize=(8.0, 1.6 + 0.3 * max(len(comps), 1)), layout="constrained")
    ax = fig.add_subplot()
    for i, (c, outcome) in enumerate(zip(comps, judgement.outcomes, strict=True)):
        y = len(comps) - 1 - i
        t = c.test
        colour = OUTCOME_COLOURS.get(outcome, "0.55")
        if np.isfinite(t.ci_low) and np.isfinite(t.ci_high):
            ax.plot([t.ci_low, t.ci_high], [y, y], color=colour, lw=1.5)
        ax.plot([t.mean_diff], [y], "o", color=colour)
    nulls = {c.null for c in comps}
    for null in nulls:
        ax.axvline(null, color="black", lw=0.8)
    labels = [
        textwrap.shorten(
            f"{c.dataset}: {_short(c.model)} vs {c.baseline}",
            width=64,
            placeholder="...",
        )
        for c in comps
    ]
    ax.set_yticks(range(len(comps)), list(reversed(labels)), fontsize=7)
    ax.set_ylim(-0.7, len(comps) - 0.3)
    quantity = "efficiency gain" if nulls != {0.0} else "AUC difference"
    ax.set_xlabel(f"{quantity} (mean over seeds, 95% t-interval; line: null)", fontsize=8)
    title = textwrap.fill(f"{claim}: {judgement.verdict}", width=90)
    fig.suptitle(title, fontsize=9, parse_math=False)
    ax.margins(x=0.08)
    for text in ax.get_yticklabels():
        text.set_parse_math(False)
    ax.grid(True, axis="x", alpha=0.3)
    return fig


def plot_claim_forest(claim: str, judgement: Judgement, path: str | Path) -> Path:
    return _save(claim_forest_figure(claim, judgement), path)
