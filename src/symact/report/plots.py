"""The reference's figures: discovered activations and accuracy against parameters.

Figures are built with matplotlib's object API (``Figure`` + ``FigureCanvasAgg``), never
``pyplot``, so plotting touches no global state and works headless and in threads. An
activation arrives as an elementwise numpy function plus its formula text (for instance
``parse_formula(text).univariate().to_numpy()``); values that are not finite on the grid are
masked (drawn as gaps and counted in the legend), never allowed to break a figure.

Text from the user (dataset and file names, formulas, activation names) is drawn literally:
never parsed as mathtext, where ``price_$m_$k`` would be math and could fail to draw after
the training it reports (``parse_math=False`` on every such text, see :func:`literal`).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from symact.report.tables import SUMMARY_COLUMNS, RecordLike, summary_table

ActivationFn = Callable[[np.ndarray], np.ndarray]

X_RANGE: tuple[float, float] = (-5.0, 5.0)
GRID_POINTS = 401
DPI = 150

FAMILY_COLOURS: dict[str, str] = {
    "Heavy ReLU": "#1f77b4",
    "Light ReLU": "#ff7f0e",
    "Light GELU": "#2ca02c",
    "Light SiLU": "#9467bd",
    "Hybrid Specialist": "#d62728",
    "Hybrid Transfer": "#8c564b",
}
_EXTRA_COLOURS = ("#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#000000")
DATASET_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def evaluate_activation(fn: ActivationFn, x: np.ndarray) -> np.ndarray:
    """``fn`` on the grid ``x`` as float64 of x's shape, non-finite values replaced by NaN.

    A constant formula may return a scalar; it is broadcast. Overflow warnings are silenced
    because the NaN mask is how they are reported.
    """
    with np.errstate(all="ignore"):
        raw = fn(x)
    y = np.asarray(raw)
    if np.iscomplexobj(y):
        raise ValueError("the activation returned complex values; it must be real-valued")
    try:
        y = np.broadcast_to(y.astype(np.float64), x.shape).copy()
    except ValueError as err:
        raise ValueError(
            f"the activation returned shape {y.shape} for an input of shape {x.shape}; "
            "it must be elementwise"
        ) from err
    y[~np.isfinite(y)] = np.nan
    return y


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _swish(x: np.ndarray) -> np.ndarray:
    # SiLU / Swish: x * sigmoid(x); the exp cannot overflow on [-5, 5].
    return x / (1.0 + np.exp(-x))


def _grid(x_range: tuple[float, float], points: int) -> np.ndarray:
    lo, hi = x_range
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi) or points < 2:
        raise ValueError(f"need a finite x_range with lo < hi and points >= 2, got {x_range}")
    return np.linspace(lo, hi, points)


def _draw_activation(ax, x: np.ndarray, fn: ActivationFn, x_range: tuple[float, float]) -> None:
    """One panel: ReLU and Swish for reference, the discovered activation on top."""
    y = evaluate_activation(fn, x)
    masked = int(np.isnan(y).sum())
    label = "Discovered"
    if masked:
        label += f" (not finite at {masked}/{y.size} points)"
    ax.plot(x, _relu(x), label="ReLU", linestyle="--", color="gray", alpha=0.7)
    ax.plot(x, _swish(x), label="Swish (SiLU)", linestyle=":", color="green", alpha=0.8)
    ax.plot(x, y, label=label, linewidth=2, color="red")
    if masked == y.size:
        ax.text(
            0.5,
            0.5,
            f"not finite anywhere on [{x_range[0]:g}, {x_range[1]:g}]",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="red",
        )
    ax.set_xlim(*x_range)
    ax.set_xlabel("Input x")
    ax.set_ylabel("Output f(x)")
    ax.grid(True, alpha=0.3)
    ax.axhline(0.0, color="black", linewidth=0.5, alpha=0.5)


def literal(legend: Legend) -> Legend:
    """``legend`` with its entries and title drawn as written (no mathtext): its labels are
    the user's names. Returns it, to wrap ``ax.legend(...)``."""
    for text in (*legend.get_texts(), legend.get_title()):
        text.set_parse_math(False)
    return legend


def _title(dataset_name: str, formula_text: str, width: int) -> str:
    formula = textwrap.fill(f"f(x) = {formula_text}", width=width, break_long_words=True)
    return f"Activation: {dataset_name}\n{formula}"


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=DPI, format="png")  # constrained layout: no second "tight" draw
    return path


def plot_activation(
    fn: ActivationFn,
    formula_text: str,
    dataset_name: str,
    path: str | Path,
    *,
    x_range: tuple[float, float] = X_RANGE,
    points: int = GRID_POINTS,
) -> Path:
    """The reference's ``activation_<DATASET>.png``: the discovered activation on [-5, 5]
    beside ReLU and Swish, the formula in the title. Returns the path written."""
    x = _grid(x_range, points)
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.add_subplot()
    _draw_activation(ax, x, fn, x_range)
    ax.set_title(_title(dataset_name, formula_text, width=80), parse_math=False)
    literal(ax.legend(loc="best"))
    return _save(fig, path)


def plot_activations_combined(
    items: Sequence[tuple[str, str, ActivationFn]],
    path: str | Path,
    *,
    x_range: tuple[float, float] = X_RANGE,
    points: int = GRID_POINTS,
) -> Path:
    """The reference's ``activation_combined.png``: one panel per (dataset_name,
    formula_text, fn), side by side, one shared legend below. Returns the path written."""
    items = list(items)
    if not items:
        raise ValueError("plot_activations_combined needs at least one (dataset, formula, fn)")
    x = _grid(x_range, points)
    fig = Figure(figsize=(5.5 * len(items), 4.8), layout="constrained")
    axes = fig.subplots(1, len(items), squeeze=False)[0]
    for ax, (dataset_name, formula_text, fn) in zip(axes, items, strict=True):
        _draw_activation(ax, x, fn, x_range)
        ax.set_title(_title(dataset_name, formula_text, width=45), fontsize=10, parse_math=False)
        # Per-panel legend only when a panel has a masking note the shared legend lacks.
        if any("not finite" in line.get_label() for line in ax.get_lines()):
            literal(ax.legend(loc="best", fontsize=8))
    handles = [
        Line2D([], [], linestyle="--", color="gray", alpha=0.7, label="ReLU"),
        Line2D([], [], linestyle=":", color="green", alpha=0.8, label="Swish (SiLU)"),
        Line2D([], [], linewidth=2, color="red", label="Discovered"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=3)
    return _save(fig, path)


def model_family(architecture: str, activation: str) -> str:
    """Colour group of a configuration: "Heavy ReLU", "Light GELU", "Hybrid Transfer", ..."""
    if activation.startswith("Hybrid (") and activation.endswith(")"):
        return f"Hybrid {activation[len('Hybrid (') : -1]}"
    return f"{architecture} {activation}"


def _as_summary(data: pd.DataFrame | Iterable[RecordLike]) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        missing = [c for c in ("dataset", "architecture", "activation") if c not in data.columns]
        missing += [c for c in ("acc_mean", "acc_std", "params") if c not in data.columns]
        if missing:
            raise ValueError(
                f"plot_accuracy_vs_params needs summary_table() columns {list(SUMMARY_COLUMNS)} "
                f"(or the run records themselves); missing {missing}"
            )
        return data
    return summary_table(data)


def _family_colours(families: Iterable[str]) -> dict[str, str]:
    colours = dict(FAMILY_COLOURS)
    extra = iter(_EXTRA_COLOURS * 10)
    for family in families:
        if family not in colours:
            colours[family] = next(extra)
    return colours


def _thousands(value: float, _pos: int) -> str:
    return f"{value / 1000:g}k" if value >= 1000 else f"{value:g}"


def plot_accuracy_vs_params(
    data: pd.DataFrame | Iterable[RecordLike], path: str | Path, *, dodge: float = 0.012
) -> Path:
    """The reference's ``accuracy_vs_params.png``: mean accuracy (± population std over
    seeds) against parameter count on a log axis; marker shape = dataset, colour = model family.

    ``data`` is a ``summary_table`` frame or the run records. The Light models of a dataset
    share one parameter count, so their points are nudged apart by ``dodge`` decades each
    (set 0 to draw them at the exact count). Configurations with no finished run are left out.
    """
    return _save(accuracy_vs_params_figure(data, dodge=dodge), path)


def accuracy_vs_params_figure(
    data: pd.DataFrame | Iterable[RecordLike], *, dodge: float = 0.012
) -> Figure:
    """The figure :func:`plot_accuracy_vs_params` saves (to look at its artists)."""
    summary = _as_summary(data)
    summary = summary[np.isfinite(summary["acc_mean"].to_numpy(dtype=np.float64))]
    if summary.empty:
        raise ValueError("no configuration has a finished run; nothing to plot")
    summary = summary.assign(
        family=[
            model_family(a, b)
            for a, b in zip(summary["architecture"], summary["activation"], strict=True)
        ]
    )
    datasets = sorted(summary["dataset"].unique())
    markers = {ds: DATASET_MARKERS[i % len(DATASET_MARKERS)] for i, ds in enumerate(datasets)}
    families = list(dict.fromkeys([*FAMILY_COLOURS, *summary["family"]]))
    families = [f for f in families if f in set(summary["family"])]
    colours = _family_colours(families)

    fig = Figure(figsize=(9, 5.5), layout="constrained")
    ax = fig.add_subplot()
    for (_ds, _p), group in summary.groupby(["dataset", "params"], sort=True):
        offsets = np.arange(len(group)) - (len(group) - 1) / 2.0
        for offset, row in zip(offsets, group.itertuples(index=False), strict=True):
            ax.errorbar(
                row.params * 10.0 ** (dodge * offset),
                row.acc_mean,
                yerr=0.0 if not math.isfinite(row.acc_std) else row.acc_std,
                fmt=markers[row.dataset],
                color=colours[row.family],
                markersize=8,
                markeredgecolor="black",
                markeredgewidth=0.5,
                capsize=3,
                linestyle="none",
            )
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.xaxis.set_minor_formatter(FuncFormatter(_thousands))
    ax.tick_params(axis="x", which="minor", labelsize=8)
    ax.set_xlabel("Parameters (log scale)")
    ax.set_ylabel("Test accuracy (mean ± std over seeds)")
    ax.set_title("Accuracy vs parameters")
    ax.grid(True, which="both", alpha=0.3)

    dataset_handles = [
        Line2D(
            [],
            [],
            marker=markers[ds],
            linestyle="none",
            color="white",
            markeredgecolor="black",
            markersize=8,
            label=ds,
        )
        for ds in datasets
    ]
    family_handles = [
        Line2D(
            [],
            [],
            marker="o",
            linestyle="none",
            color=colours[f],
            markeredgecolor="black",
            markeredgewidth=0.5,
            markersize=8,
            label=f,
        )
        for f in families
    ]
    # Both legends sit outside the axes, to the right, so they never cover a point.
    first = ax.legend(
        handles=dataset_handles, title="Dataset", loc="upper left", bbox_to_anchor=(1.02, 1.0)
    )
    ax.add_artist(literal(first))
    families_legend = ax.legend(
        handles=family_handles, title="Model", loc="lower left", bbox_to_anchor=(1.02, 0.0)
    )
    literal(families_legend)
    return fig
