"""A search's outputs, rebuilt from its results store alone.

A finished search leaves its runs in the store and one ``search`` document
(:func:`search_document`): the settings, every candidate proposed (trained or not, with why
not), and the verdict's rows with the keys of their final runs. :func:`write_search_outputs`
computes everything from those: ``search_results.csv`` (the verdict), ``search.json``,
``search_progress.png``, ``search_activations.png`` and ``search_report.html`` (every name
apart from a benchmark's, so that both commands can share one ``--out``). ``symact report
DIR`` calls it too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from symact.experiments.executors import environment
from symact.experiments.store import ResultsStore
from symact.formula.parser import parse_formula
from symact.numbers import finite_or_none, json_safe
from symact.report.html import ReportData, ReportFigure, ReportTable, write_report
from symact.report.outputs import staging
from symact.report.plots import plot_activations_combined
from symact.search.runner import SearchOutcome, verdict_rows

SEARCH_DOCUMENT = "search"
#: The search's report: not ``report.html``, which a benchmark into the same folder writes.
SEARCH_REPORT = "search_report.html"
RESULT_COLUMNS = (
    "dataset",
    "activation",
    "formula",
    "val_score",
    "test_acc_mean",
    "test_acc_std",
    "test_auc_mean",
    "test_auc_std",
    "n_seeds",
    "n_failed",
    "diff_vs_best_baseline",
    "ci_low",
    "ci_high",
    "p_value",
    "p_holm",
    "best_baseline",
    "learned_formula",
)
#: Candidates whose formula is simplified with sympy in search.json (it costs ~20-150 ms
#: each, so not all of a thousand): the best by fitness; the others have it null.
SIMPLIFIED = 25

SPLIT_NOTE = (
    "Selection on validation, judgement on test. One test part ({test:.0%} of the rows, drawn "
    "with --seed {seed}) is held out for the whole search and its verdict: the search trains "
    "on the rest minus a validation part ({val:.0%} of it) and scores candidates there only. "
    "The verdict's seeds vary initialization, data order and dropout, never which rows are "
    "test. This departs from the paper's protocol (a new split per seed) on purpose: with a "
    "new split per seed, verdict test rows would be rows the search selected on."
)


def search_document(
    outcome: SearchOutcome, simplified: dict[str, str] | None = None
) -> dict[str, Any]:
    """The search's record; ``simplified`` holds forms simplified before (a rerun's)."""
    s, st = outcome.settings, outcome.state
    known = dict(simplified or {})
    trained = sorted((c for c in st.candidates if c.status == "trained"), key=lambda c: -c.fitness)
    simplify = {c.index for c in trained[:SIMPLIFIED]}
    candidates = []
    for c in st.candidates:
        d = c.to_dict()
        if c.index in simplify:
            d["simplified"] = known.get(d["formula"]) or str(c.formula.simplify())
        candidates.append(d)
    return {
        "dataset": outcome.label,
        "data": outcome.data.to_dict(),
        "evaluate_on": [d.to_dict() for d in outcome.evaluate_on],
        "settings": s.identity(),
        "time_limit": s.time_limit,
        "split": SPLIT_NOTE.format(test=s.test_size, seed=s.seed, val=s.validation),
        "stopped": st.stopped,
        "trained": st.trained,
        "specialists": outcome.specialists,
        "provenance": outcome.provenance,
        "candidates": candidates,
        "entries": [e.to_dict() for e in outcome.entries],
    }


def save_search(outcome: SearchOutcome, store: ResultsStore) -> None:
    before = store.get_document(SEARCH_DOCUMENT) or {"candidates": []}
    simplified = {c["formula"]: c["simplified"] for c in before["candidates"] if c["simplified"]}
    store.put_document(SEARCH_DOCUMENT, search_document(outcome, simplified))


def write_search_outputs(store: ResultsStore, out: str | Path) -> pd.DataFrame:
    """Write every output of the search stored in ``store`` into ``out``; return the
    verdict table. ValueError when the store holds no finished search."""
    doc = store.get_document(SEARCH_DOCUMENT)
    if doc is None:
        raise ValueError(f"{store.path} holds no finished symact search")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(verdict_rows(doc["entries"], store), columns=list(RESULT_COLUMNS))
    with staging(out) as stage:
        table.to_csv(stage / "search_results.csv", index=False, lineterminator="\n")
        record = {**doc, "environment": environment(), "results": table.to_dict("records")}
        text = json.dumps(json_safe(record), indent=2, allow_nan=False)
        (stage / "search.json").write_text(text, encoding="utf-8")
        progress_png = plot_progress(doc, stage / "search_progress.png")
        activations_png = plot_top(doc, table, stage / "search_activations.png")
        write_report(_report(doc, table, progress_png, activations_png), stage / SEARCH_REPORT)
    return table


def plot_progress(doc: dict[str, Any], path: Path) -> Path:
    """Best and median fitness (of the population: the last ``population`` trained
    candidates) against candidates trained."""
    pop = doc["settings"]["population"]
    fits = [c["fitness"] for c in doc["candidates"] if c["status"] in ("trained", "failed")]
    x = np.arange(1, len(fits) + 1)
    values = np.array([np.nan if f is None else f for f in fits], dtype=float)
    best = (
        np.fmax.accumulate(np.where(np.isnan(values), -np.inf, values)) if len(values) else values
    )
    median = [np.nanmedian(values[max(0, i - pop + 1) : i + 1]) for i in range(len(values))]
    fig = Figure(figsize=(7, 4), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if len(values):
        ax.plot(x, best, label="best so far", color="#d62728")
        ax.plot(x, median, label=f"population median (last {pop})", color="#1f77b4")
        ax.scatter(x, values, s=4, color="#7f7f7f", alpha=0.4, label="each candidate")
        finite = values[np.isfinite(values)]
        if finite.size:
            lo = float(np.percentile(finite, 5))
            ax.set_ylim(lo - 0.02, float(finite.max()) + 0.01)
    ax.set_xlabel("candidates trained")
    ax.set_ylabel("validation score (mean over search seeds)")
    ax.set_title(f"symact search on {doc['dataset']}", parse_math=False)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    return path


def plot_top(doc: dict[str, Any], table: pd.DataFrame, path: Path) -> Path:
    mine = table[table["dataset"] == doc["dataset"]]
    curves = [("ReLU", "relu(x)"), ("SiLU", "silu(x)")]
    curves += [
        (r.activation, r.formula) for r in mine.itertuples() if r.activation.startswith("candidate")
    ]
    items = [(label, text, parse_formula(text).to_numpy()) for label, text in curves]
    return plot_activations_combined(items, path)


def _report(
    doc: dict[str, Any], table: pd.DataFrame, progress: Path, activations: Path
) -> ReportData:
    counts = pd.Series([c["status"] for c in doc["candidates"]]).value_counts().to_dict()
    top = sorted(
        (c for c in doc["candidates"] if c["status"] == "trained"), key=lambda c: -c["fitness"]
    )[:20]
    settings = {
        **doc["settings"],
        "time_limit": doc["time_limit"],
        "stopped": doc["stopped"],
        "candidates": counts,
    }
    provenance = [{"dataset": label, **p} for label, p in doc["provenance"].items()]
    return ReportData(
        title=f"symact search on {doc['dataset']}",
        settings=settings,
        provenance=provenance,
        versions=environment(),
        tables=[
            ReportTable("Verdict", table.map(finite_or_none), doc["split"], "verdict"),
            ReportTable(
                "Best candidates (validation)",
                [
                    {
                        "index": c["index"],
                        "formula": c["formula"],
                        "simplified": c["simplified"],
                        "fitness": c["fitness"],
                        "generation": c["generation"],
                        "origin": c["origin"],
                    }
                    for c in top
                ],
                "The 20 best candidates by mean validation score over the search seeds.",
                "candidates",
            ),
        ],
        figures=[
            ReportFigure("Search progress", progress),
            ReportFigure("Finalists beside ReLU and SiLU", activations),
        ],
        notes=[doc["split"], *_conclusions(doc, table)],
    )


def _conclusions(doc: dict[str, Any], table: pd.DataFrame) -> list[str]:
    from symact.search.verdict import conclusions

    n_classes = {e["dataset"]: e["n_classes"] for e in doc["entries"]}
    return conclusions(table.to_dict("records"), n_classes)
