"""A search's outputs, rebuilt from its results store alone.

A finished search leaves its runs in the store and one ``search`` document
(:func:`search_document`): the settings, every candidate proposed (trained or not, with why
not), and the verdict's rows with the keys of their final runs. :func:`write_search_outputs`
computes everything from those: ``search_results.csv`` (the verdict), ``search.json``,
``search_progress.png``, ``search_activations.png``, ``search_forest_N.png`` (one forest
plot per dataset), for a search over several datasets or with held-out ones
``search_matrix.csv`` and ``search_transfer.csv`` (``search.transfer``), and
``search_report.html``, which opens with the verdict (every name
apart from a benchmark's, so that both commands can share one ``--out``). ``symact report
DIR`` calls it too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from symact.experiments.datacache import DataCache
from symact.experiments.executors import environment
from symact.experiments.specs import DataSpec, SplitSpec
from symact.experiments.store import ResultsStore
from symact.formula.parser import parse_formula
from symact.numbers import finite_or_none, json_safe
from symact.report.html import ReportData, ReportFigure, ReportTable, write_report
from symact.report.outputs import staging
from symact.report.plots import plot_activations_combined
from symact.report.suite_plots import plot_difference_forest
from symact.search.evolution import selection_metric
from symact.search.runner import SearchOutcome, verdict_rows
from symact.search.surrogate import surrogate_summary
from symact.search.transfer import (
    MATRIX_COLUMNS,
    SUMMARY_COLUMNS,
    transfer_matrix,
    transfer_sentences,
    transfer_summary,
)
from symact.search.verdict import BASELINES, conclusion, is_finalist, judge
from symact.training.config import length_text

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
    "offered",
)
#: Candidates whose formula is simplified with sympy in search.json (it costs ~20-150 ms
#: each, so not all of a thousand): the best by fitness; the others have it null.
SIMPLIFIED = 25

SPLIT_NOTE = (
    "Selection on validation, judgement on test. One test part ({test:.0%} of the rows, drawn "
    "with --seed {seed}) is held out for the whole search and its verdict. Of the rest, "
    "{selection:.0%} are selection rows, which the search's fitness never reads: the last rung "
    "chooses the finalists there, and a finalist is offered as better only where it beats the "
    "best baseline there. The search trains on what remains minus a validation part "
    "({val:.0%} of it) and scores candidates on that part. "
    "The verdict's seeds vary initialization, data order and dropout, never which rows are "
    "test. This departs from the paper's protocol (a new split per seed) on purpose: with a "
    "new split per seed, verdict test rows would be rows the search selected on."
)


def search_document(
    outcome: SearchOutcome,
    simplified: dict[str, str] | None = None,
    majority: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The search's record; ``simplified`` holds forms simplified before (a rerun's);
    ``majority``: dataset label -> majority-class rate of its held-out (test) part."""
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
        # a search over several datasets: every one searched, and those held out of it
        "datasets": [provenance_label(outcome, d) for d in outcome.datasets or (outcome.data,)],
        "holdout": [provenance_label(outcome, d) for d in outcome.holdout],
        "holdout_data": [d.to_dict() for d in outcome.holdout],
        "references": outcome.references,
        "evaluate_on": [d.to_dict() for d in outcome.evaluate_on],
        "settings": s.identity(),
        "time_limit": s.time_limit,
        "split": SPLIT_NOTE.format(
            test=s.test_size, seed=s.seed, val=s.validation, selection=s.selection
        ),
        "stopped": st.stopped,
        "trained": st.trained,
        "specialists": outcome.specialists,
        "provenance": outcome.provenance,
        "majority": dict(majority or {}),
        "candidates": candidates,
        "entries": [e.to_dict() for e in outcome.entries],
        "rungs": [r.to_dict() for r in outcome.rungs],
        # the pre-screen's counts and its Spearman on what it let through (absent when off)
        **({"surrogate": surrogate_summary(st.candidates)} if s.surrogate.enabled else {}),
    }


def provenance_label(outcome: SearchOutcome, data: DataSpec) -> str:
    """The display label the search's verdict gave ``data`` (its entries are in order)."""
    from symact.experiments.suites import dataset_label

    return next(
        (e.dataset for e in outcome.entries if e.final_specs and e.final_specs[0].data == data),
        dataset_label(data.name),
    )


def save_search(
    outcome: SearchOutcome, store: ResultsStore, cache: DataCache | None = None
) -> None:
    """Store the search's document; with the ``cache`` it read its data through, also the
    majority-class rate of each dataset's test part (the report's reference for accuracy)."""
    before = store.get_document(SEARCH_DOCUMENT) or {"candidates": []}
    simplified = {c["formula"]: c["simplified"] for c in before["candidates"] if c["simplified"]}
    majority = {}
    if cache is not None:
        split = outcome.settings.test_split()
        searched = outcome.datasets or (outcome.data,)
        for data in (*searched, *outcome.evaluate_on, *outcome.holdout):
            label = cache.dataset(data).display_name
            majority[label] = held_out_majority(cache, data, split)
    store.put_document(SEARCH_DOCUMENT, search_document(outcome, simplified, majority))


def majority_rate(labels: np.ndarray) -> float:
    """The accuracy of always answering the most common class of ``labels``: the floor a
    classifier's accuracy must clear before its AUC means it is useful as a classifier."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64))
    return float(counts.max() / counts.sum())


def held_out_majority(cache: DataCache, data: DataSpec, split: SplitSpec) -> float:
    """:func:`majority_rate` of the rows ``split`` holds out of ``data`` (the verdict's test
    rows: the same split the final runs are scored on)."""
    return majority_rate(cache.split(data, split).y_test)


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
        progress_png = plot_progress(doc, stage / "search_progress.png")
        activations_png = plot_top(doc, table, stage / "search_activations.png")
        relu = against_relu(doc["entries"], store)
        differences = forest_rows(table, relu)
        matrix, summary = transfer_tables(doc, table, relu)
        if len(matrix):
            matrix.to_csv(stage / "search_matrix.csv", index=False, lineterminator="\n")
            summary.to_csv(stage / "search_transfer.csv", index=False, lineterminator="\n")
            record["transfer"] = {
                "summary": summary.to_dict("records"),
                "matrix": matrix.to_dict("records"),
            }
        forests = [
            plot_difference_forest(
                differences[differences["dataset"] == label],
                "model",
                f"{label}: finalists on test (filled: significant, Holm)",
                stage / f"search_forest_{i}.png",
                metric_key(doc, label),
            )
            for i, label in enumerate(dict.fromkeys(table["dataset"]), start=1)
        ]
        text = json.dumps(json_safe(record), indent=2, allow_nan=False)
        (stage / "search.json").write_text(text, encoding="utf-8")
        report = _report(doc, table, progress_png, activations_png, forests, matrix, summary)
        write_report(report, stage / SEARCH_REPORT)
    return table


def searched_labels(doc: dict[str, Any]) -> list[str]:
    """The labels of the datasets the search trained on (one, before suite searches)."""
    return doc.get("datasets") or [doc["dataset"]]


def transfer_tables(
    doc: dict[str, Any], table: pd.DataFrame, relu: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``search.transfer``'s matrix and summary for a search over several datasets or with
    held-out ones (empty frames otherwise): the searched datasets and the held-out ones as
    two groups."""
    searched, held = searched_labels(doc), doc.get("holdout") or []
    if len(searched) < 2 and not held:
        return pd.DataFrame(columns=list(MATRIX_COLUMNS)), pd.DataFrame(
            columns=list(SUMMARY_COLUMNS)
        )
    groups = {"searched": searched, **({"held out": held} if held else {})}
    matrix = transfer_matrix(table, relu, groups)
    return matrix, transfer_summary(matrix)


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
    ax.set_title(f"symact search on {', '.join(searched_labels(doc))}", parse_math=False)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    return path


def plot_top(doc: dict[str, Any], table: pd.DataFrame, path: Path) -> Path:
    mine = table[table["dataset"] == doc["dataset"]]
    curves = [("ReLU", "relu(x)"), ("SiLU", "silu(x)")]
    curves += [(r.activation, r.formula) for r in mine.itertuples() if is_finalist(r.activation)]
    items = [(label, text, parse_formula(text).to_numpy()) for label, text in curves]
    return plot_activations_combined(items, path)


def metric_key(doc: dict[str, Any], label: str) -> str:
    """The result field the verdict on dataset ``label`` is judged on ("auc" or "accuracy")."""
    n_classes = {e["dataset"]: e["n_classes"] for e in doc["entries"]}
    return selection_metric(n_classes[label])[0]


def against_relu(entries: list[dict[str, Any]], store: ResultsStore) -> pd.DataFrame:
    """The verdict's rows with ReLU as the baseline instead of the best by validation: the
    same :func:`judge` (paired differences, t-interval, Holm over the finalists), given ReLU
    as the only baseline with a validation score."""
    results = store.stored_runs(key for e in entries for _, key in e["finals"])
    rows = []
    for label in dict.fromkeys(e["dataset"] for e in entries):
        mine = [
            e if e["activation"] == "ReLU" or _is_finalist(e) else {**e, "val_score": None}
            for e in entries
            if e["dataset"] == label
        ]
        rows += judge(mine, results)
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


#: Holm's family-wise level of the verdict (verdict.conclusion's)
ALPHA = 0.05


def _is_finalist(row: Mapping[str, Any]) -> bool:
    return is_finalist(str(row["activation"]))


def _significant(p_holm: float) -> str:
    if math.isnan(p_holm):
        return "untestable"
    return "yes" if p_holm < ALPHA else "no"


def forest_rows(table: pd.DataFrame, relu: pd.DataFrame) -> pd.DataFrame:
    """The forest plot's rows: each finalist (and the Specialist) against the best baseline
    by validation and against ReLU, the difference in the dataset's metric with its
    95% t-interval; rows without a difference (the baseline itself) are left out."""
    frames = []
    for source, name in ((table, "best"), (relu, "ReLU")):
        rows = source[~source["activation"].isin([name for name, _ in BASELINES])]
        rows = rows[rows["diff_vs_best_baseline"].notna()]
        baseline = rows["best_baseline"].map(lambda b: f"best by validation ({b})")
        frames.append(
            pd.DataFrame(
                {
                    "dataset": rows["dataset"],
                    "model": [
                        _short(a, f)
                        for a, f in zip(rows["activation"], rows["formula"], strict=True)
                    ],
                    "baseline": baseline if name == "best" else "ReLU",
                    "mean_diff": rows["diff_vs_best_baseline"],
                    "ci_low": rows["ci_low"],
                    "ci_high": rows["ci_high"],
                    "significant": rows["p_holm"].astype(float).map(_significant),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


LABEL_CHARS = 36


def _short(activation: str, formula: str) -> str:
    """A forest plot's row label: the name and as much of the formula as fits its margin."""
    text = f"{activation}: {formula}"
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 3] + "..."


#: keeps a number and its interval on one line of a table cell
NBSP = "\u00a0"


def verdict_table(table: pd.DataFrame, majority: Mapping[str, float]) -> list[dict[str, Any]]:
    """The verdict narrowed to what a reader decides on, each finalist and baseline in one
    line: the difference to the best baseline with its interval, Holm p, whether it is
    significant, test AUC and accuracy, and the held-out set's majority-class rate."""
    out = []
    for r in table.itertuples():
        final = _is_finalist(r._asdict())
        diff = (
            f"{r.diff_vs_best_baseline:+.4f}{NBSP}[{r.ci_low:+.4f},{NBSP}{r.ci_high:+.4f}]"
            if not math.isnan(r.diff_vs_best_baseline)
            else ("best baseline" if r.activation == r.best_baseline else "n/a")
        )
        out.append(
            {
                "dataset": r.dataset,
                "activation": r.activation,
                "formula": r.formula,
                "difference [95% CI]": diff,
                "p_holm": finite_or_none(r.p_holm) if final else None,
                "significant": _significant(float(r.p_holm)) if final else "",
                "AUC": _mean_std(r.test_auc_mean, r.test_auc_std),
                "Acc": _mean_std(r.test_acc_mean, r.test_acc_std)
                + (", below" if r.test_acc_mean < majority.get(r.dataset, -math.inf) else ""),
                "majority class": majority.get(r.dataset),
            }
        )
    return out


def _mean_std(mean: float, std: float) -> str:
    return "n/a" if math.isnan(mean) else f"{mean:.4f}{NBSP}±{NBSP}{std:.4f}"


def verdict_sentences(
    doc: dict[str, Any], table: pd.DataFrame, majority: Mapping[str, float]
) -> list[str]:
    """Per dataset, the verdict's sentence (:func:`conclusion`), then one sentence naming
    every finalist whose mean test accuracy is below the held-out set's majority-class rate
    (a high AUC does not make a classifier better than always answering the common class)."""
    records = table.to_dict("records")
    out = []
    for label in dict.fromkeys(table["dataset"]):
        out.append(conclusion(records, label, selection_metric(_classes(doc, label))[1]))
        rate = majority.get(label)
        if rate is None:
            continue
        below = [
            f"{r['activation']} ({r['test_acc_mean']:.4f})"
            for r in records
            if r["dataset"] == label and _is_finalist(r) and r["test_acc_mean"] < rate
        ]
        if below:
            out.append(
                f"{label}: test accuracy below the majority-class rate of the held-out set "
                f"({rate:.4f}, always answering its most common class): " + ", ".join(below) + "."
            )
    return out


def _classes(doc: dict[str, Any], label: str) -> int:
    return next(e["n_classes"] for e in doc["entries"] if e["dataset"] == label)


def rung_table(rungs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per rung of the search's ``rungs`` record (``search.rungs.Rung.to_dict``)."""
    return [
        {
            "rung": r["rung"],
            "candidates": len(r["candidates"]),
            "epochs": length_text(r["epochs"], r.get("patience")),
            "seeds": len(r["seeds"]),
            "rows": r["rows"],
            "best score": max((v for v in r["scores"] if v is not None), default=None),
            "promoted": len(r["promoted"]) if i + 1 < len(rungs) else None,
            "Spearman with the previous rung": r["spearman"],
        }
        for i, r in enumerate(rungs)
    ]


def surrogate_tables(doc: dict[str, Any]) -> list[ReportTable]:
    """The pre-screen's record (none for a search without one): how many proposals it
    screened out and let through, its Spearman between prediction and fitness on those it let
    through, and the screened candidates with their predictions."""
    record = doc.get("surrogate")
    if record is None:
        return []
    rho = record["spearman"]
    summary = {
        **doc["settings"]["surrogate"],
        "screened out (not trained)": record["screened"],
        "let through after warm-up": record["let_through"],
        "trained in all": record["trained"],
        "Spearman, prediction vs fitness (let through)": rho,
        "n of that Spearman": record["spearman_n"],
    }
    screened = [
        {
            "index": c["index"],
            "formula": c["formula"],
            "predicted": c["predicted"],
            "generation": c["generation"],
            "origin": c["origin"],
            "reason": c["reason"],
        }
        for c in doc["candidates"]
        if c["status"] == "screened"
    ]
    return [
        ReportTable(
            "Surrogate pre-screen",
            [summary],
            "A k-nearest-neighbour regression on features computed without training (values "
            "on N(0, 1) inputs) predicted each proposal's fitness; those below the quantile "
            "of the population were not trained and do not count toward the budget.",
            "surrogate",
        ),
        ReportTable(
            "Screened candidates (not trained)",
            screened,
            "Proposals the surrogate kept from training, with its prediction.",
            "screened",
            folded=True,
        ),
    ]


def _report(
    doc: dict[str, Any],
    table: pd.DataFrame,
    progress: Path,
    activations: Path,
    forests: list[Path],
    matrix: pd.DataFrame,
    summary: pd.DataFrame,
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
    majority = doc.get("majority") or {}  # stores written before it was recorded have none
    provenance = [{"dataset": label, **p} for label, p in doc["provenance"].items()]
    metric = selection_metric(_classes(doc, searched_labels(doc)[0]))[1]
    transfer = transfer_sentences(summary, metric) if len(summary) else []
    return ReportData(
        title=f"symact search on {', '.join(searched_labels(doc))}"
        + (f", held out: {', '.join(doc['holdout'])}" if doc.get("holdout") else ""),
        settings=settings,
        provenance=provenance,
        versions=environment(),
        verdict_title="Did a found activation beat the baselines?",
        verdict=transfer + verdict_sentences(doc, table, majority),
        verdict_figures=[
            ReportFigure(
                f"Finalists against the baselines on {label}",
                path,
                "Mean difference on test, paired by seed, with its 95% t-interval, against the "
                "best baseline by validation and against ReLU",
            )
            for label, path in zip(dict.fromkeys(table["dataset"]), forests, strict=True)
        ],
        tables=[
            *transfer_report_tables(matrix, summary, metric),
            ReportTable(
                "Verdict table",
                verdict_table(table, majority),
                "Each finalist against the best baseline by validation, on test (Holm over "
                "the finalists). 'majority class': the accuracy of always answering the "
                "held-out set's most common class; an accuracy marked 'below' does worse.",
                "verdict-table",
            ),
            ReportTable(
                "Rungs",
                rung_table(doc.get("rungs") or []),
                "Successive halving over training length: every trained candidate is scored "
                "at the first rung; the best 1/eta of each rung (distinct shapes, no baseline) "
                "go on to the next; the finalists are the best of the last, at the verdict's "
                "training length with fresh seeds. Spearman: the rank correlation of a rung's "
                "scores with the previous rung's, on the candidates in both (how well the "
                "cheaper rung predicted it).",
                "rungs",
            ),
            ReportTable(
                "All verdict columns",
                table.map(finite_or_none),
                "search_results.csv as written.",
                "results",
                folded=True,
            ),
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
                        **({"predicted": c.get("predicted")} if "surrogate" in doc else {}),
                    }
                    for c in top
                ],
                "The 20 best candidates by mean validation score over the search seeds"
                + (
                    " ('predicted': the surrogate's fitness before training)."
                    if "surrogate" in doc
                    else "."
                ),
                "candidates",
                folded=True,
            ),
            *surrogate_tables(doc),
        ],
        figures=[
            ReportFigure("Finalists beside ReLU and SiLU", activations),
            ReportFigure("Search progress", progress, folded=True),
        ],
        notes=[doc["split"]],
    )


def matrix_view(matrix: pd.DataFrame, baseline: str) -> list[dict[str, Any]]:
    """The dataset x finalist matrix against one baseline: a row per dataset, a column per
    finalist, each cell the mean difference on test and its verdict (Holm over the group's
    datasets)."""
    mine = matrix[matrix["baseline"] == baseline]
    rows = []
    for (group, label), cells in mine.groupby(["group", "dataset"], sort=False):
        row: dict[str, Any] = {"group": group, "dataset": label}
        row["baseline"] = cells["baseline_activation"].iloc[0]
        for r in cells.itertuples():
            p = "" if math.isnan(r.p_holm) else f", p{NBSP}=" + f"{r.p_holm:.2g}"
            diff = "n/a" if math.isnan(r.diff) else f"{r.diff:+.4f}"
            row[r.finalist] = f"{diff} ({r.cell}{p})"
        rows.append(row)
    return rows


def transfer_report_tables(
    matrix: pd.DataFrame, summary: pd.DataFrame, metric: str
) -> list[ReportTable]:
    """The report's tables of a search over several datasets (none for one dataset)."""
    if not len(matrix):
        return []
    from symact.search.transfer import BEST, LIGHT_RELU

    return [
        ReportTable(
            "Across datasets",
            summary.map(finite_or_none).to_dict("records"),
            f"Each finalist against Light ReLU and against each dataset's best baseline by "
            f"validation, across the held-out datasets (transfer) and the searched ones (fit): "
            f"Wilcoxon signed-rank of the per-dataset mean differences in {metric}, and wins / "
            f"ties / losses by paired t per dataset, Holm over the group's datasets.",
            "transfer",
        ),
        *(
            ReportTable(
                f"Dataset x finalist, against {name}",
                matrix_view(matrix, name),
                f"Mean difference on test ({metric}, paired by seed) and the cell's verdict "
                "(Holm over the group's datasets).",
                f"matrix-{i}",
            )
            for i, name in enumerate((LIGHT_RELU, BEST), start=1)
        ),
    ]
