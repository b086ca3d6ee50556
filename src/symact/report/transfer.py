"""The transfer matrix: every discovered formula on every dataset it was trained on.

One row per (source formula, target dataset) cell: the formula's mean test AUC on the target
and its AUC difference to the target's Light ReLU, paired by seed, with the 95% t-interval,
the number of pairs and Holm's adjusted p. The numbers are the ``statistics_table`` rows for
(target, model, "Light ReLU", "auc"), so the matrix and ``statistics.csv`` never disagree: the
Holm family of a cell is every configuration on its target against Light ReLU. The diagonal
(source == target) is the Specialist. ``plot_transfer_matrix`` draws it as an annotated
heatmap.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from symact.report.configurations import FormulaLike, as_formula_configurations
from symact.report.plots import _save
from symact.report.statistics import DEFAULT_SETTINGS, StatisticsSettings, statistics_table
from symact.report.tables import LIGHT_BASELINE, RecordLike, as_records, model_label

TRANSFER_COLUMNS: tuple[str, ...] = (
    "source",
    "discovery_seed",
    "formula",
    "target",
    "model",
    "role",
    "auc_mean",
    "auc_diff",
    "ci_low",
    "ci_high",
    "n_pairs",
    "p_holm",
    "significant",
)

_LIGHT = model_label(*LIGHT_BASELINE)


def transfer_matrix(
    records: Iterable[RecordLike],
    formulas: Iterable[FormulaLike],
    *,
    statistics: pd.DataFrame | None = None,
    settings: StatisticsSettings = DEFAULT_SETTINGS,
) -> pd.DataFrame:
    """``transfer_matrix.csv``, long form: one row per formula configuration with runs.

    ``formulas`` says which model label on which target carries which source's formula (see
    :class:`FormulaConfiguration`). ``auc_mean`` is over the runs that did not fail;
    ``auc_diff``, ``ci_low``, ``ci_high``, ``n_pairs``, ``p_holm`` and ``significant`` are the
    target's ``statistics_table`` row against Light ReLU on AUC (pass ``statistics`` to reuse
    one already computed; it must come from the same records). A target without a Light ReLU
    run has NaN differences and "untestable". Configurations without any run are left out.
    Rows: by source, discovery seed, formula, then target. Columns: ``TRANSFER_COLUMNS``.
    """
    runs = as_records(records)
    configs = as_formula_configurations(formulas)
    if statistics is None:
        statistics = statistics_table(
            runs, baselines=[LIGHT_BASELINE], metrics=["auc"], settings=settings
        )
    vs_light = statistics[(statistics["baseline"] == _LIGHT) & (statistics["metric"] == "auc")]
    vs_light = vs_light.set_index(["dataset", "model"])
    rows = []
    for c in configs:
        aucs = [r.auc for r in runs if r.dataset == c.dataset and r.model == c.model]
        if not aucs:
            continue
        finished = [
            r.auc for r in runs if r.dataset == c.dataset and r.model == c.model and not r.failed
        ]
        key = (c.dataset, c.model)
        stat = vs_light.loc[key] if key in vs_light.index else None
        rows.append(
            {
                "source": c.source_dataset,
                "discovery_seed": c.discovery_seed,
                "formula": c.formula,
                "target": c.dataset,
                "model": c.model,
                "role": c.role,
                "auc_mean": float(np.mean(finished)) if finished else math.nan,
                "auc_diff": math.nan if stat is None else float(stat["mean_diff"]),
                "ci_low": math.nan if stat is None else float(stat["ci_low"]),
                "ci_high": math.nan if stat is None else float(stat["ci_high"]),
                "n_pairs": 0 if stat is None else int(stat["n_pairs"]),
                "p_holm": math.nan if stat is None else float(stat["p_holm"]),
                "significant": "untestable" if stat is None else str(stat["significant"]),
            }
        )
    table = pd.DataFrame(rows, columns=list(TRANSFER_COLUMNS))
    if table.empty:
        return table
    seeds = table["discovery_seed"].map(lambda s: -1 if s is None or pd.isna(s) else int(s))
    table = (
        table.assign(_seed=seeds)
        .sort_values(["source", "_seed", "formula", "target"], kind="stable")
        .drop(columns="_seed")
        .reset_index(drop=True)
    )
    table["discovery_seed"] = table["discovery_seed"].astype("Int64")
    return table.astype({"n_pairs": "int64"})


def _source_key(row: object) -> tuple[str, int | None, str]:
    seed = row.discovery_seed
    return (row.source, None if seed is None or pd.isna(seed) else int(seed), row.formula)


def _source_label(source: str, seed: int | None, formula: str, width: int = 34) -> str:
    head = source if seed is None else f"{source}, discovery seed {seed}"
    short = formula if len(formula) <= 3 * width else formula[: 3 * width - 1] + "…"
    return head + "\n" + textwrap.fill(short, width=width, break_long_words=True)


def _cell_text(row: pd.Series) -> str:
    if not math.isfinite(row["auc_diff"]):
        auc = f"AUC {row['auc_mean']:.3f}" if math.isfinite(row["auc_mean"]) else "all failed"
        return f"{auc}\nno Light ReLU pair"
    star = " *" if row["significant"] == "yes" else ""
    ci = (
        f"[{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]"
        if math.isfinite(row["ci_low"])
        else "[no CI]"
    )
    return f"{row['auc_diff']:+.3f}{star}\n{ci}\nAUC {row['auc_mean']:.3f}, n={row['n_pairs']}"


def plot_transfer_matrix(matrix: pd.DataFrame, path: str | Path) -> Path:
    """``transfer_matrix.png``: source formulas (rows) x target datasets (columns).

    Colour: AUC difference to the target's Light ReLU (blue better, red worse, white equal;
    the scale is symmetric around 0). Each cell reads the difference, "*" where Holm's p <
    0.05, the 95% CI, the mean AUC and the number of pairs; a black frame marks the
    Specialist (the formula on its own dataset), grey cells were not run. Formula text is
    drawn literally (no mathtext). Returns the path written.
    """
    missing = [c for c in TRANSFER_COLUMNS if c not in matrix.columns]
    if missing:
        raise ValueError(f"plot_transfer_matrix needs a transfer_matrix() frame; missing {missing}")
    if matrix.empty:
        raise ValueError("the transfer matrix is empty: no formula configuration has a run")
    keys = [_source_key(row) for row in matrix.itertuples(index=False)]
    sources = list(dict.fromkeys(keys))
    targets = list(dict.fromkeys(matrix["target"]))
    cells = [
        (sources.index(k), targets.index(t)) for k, t in zip(keys, matrix["target"], strict=True)
    ]
    values = np.full((len(sources), len(targets)), np.nan)
    for (i, j), diff in zip(cells, matrix["auc_diff"], strict=True):
        values[i, j] = diff
    finite = values[np.isfinite(values)]
    bound = max(float(np.abs(finite).max()) if finite.size else 0.0, 1e-3)
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-bound, vmax=bound)

    fig = Figure(
        figsize=(3.0 + 2.3 * len(targets), 1.4 + 1.05 * len(sources)), layout="constrained"
    )
    ax = fig.add_subplot()
    # Red (worse), white (equal), blue (better): readable with the common colour blindnesses.
    cmap = colormaps["RdBu"]
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, aspect="auto")
    ax.set_facecolor("#d9d9d9")  # cells never run
    for (i, j), row in zip(cells, matrix.itertuples(index=False), strict=True):
        value = values[i, j]
        dark = math.isfinite(value) and abs(norm(value) - 0.5) > 0.32
        ax.text(
            j,
            i,
            _cell_text(pd.Series(row._asdict())),
            ha="center",
            va="center",
            fontsize=8,
            color="white" if dark else "black",
            parse_math=False,
        )
        if row.role == "specialist":
            ax.add_patch(Rectangle((j - 0.48, i - 0.48), 0.96, 0.96, fill=False, lw=2, ec="black"))
    for i, j in zip(*np.nonzero(~np.isfinite(values)), strict=True):
        if (i, j) not in cells:
            ax.text(j, i, "not run", ha="center", va="center", fontsize=8, color="#666666")
    ax.set_xticks(range(len(targets)), labels=targets, parse_math=False)
    ax.set_yticks(
        range(len(sources)),
        labels=[_source_label(*s) for s in sources],
        fontsize=8,
        parse_math=False,
    )
    ax.xaxis.tick_top()
    ax.set_xlabel("target dataset (trained and tested on)")
    ax.set_ylabel("source formula (discovered on)")
    ax.set_xticks(np.arange(-0.5, len(targets)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(sources)), minor=True)
    ax.grid(which="minor", color="white", linewidth=2)
    ax.tick_params(which="minor", length=0)
    ax.set_title(
        "Test AUC minus the target's Light ReLU, paired by seed (95% t-interval)\n"
        "* Holm-adjusted p < 0.05; framed: the dataset's own formula (Specialist)",
        fontsize=10,
    )
    bar = fig.colorbar(image, ax=ax, shrink=0.8)
    bar.set_label("AUC difference to Light ReLU")
    return _save(fig, path)
