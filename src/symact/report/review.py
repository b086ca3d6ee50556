"""The verdict a reviewer trusts, in one call: the statistics, transfer and claims tables of a
run, written as CSVs beside a self-contained report.html.

:func:`build_review` computes every table once from plain run records and formula
configurations (pure); :func:`write_review` writes ``statistics.csv``, ``runs.csv``,
``transfer_matrix.csv`` (+ ``.png``), ``claims.csv`` and ``report.html`` into a folder. The
experiment outputs call these; nothing here knows about stores or specs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from symact.report.claims import ClaimsAudit, audit_claims
from symact.report.configurations import (
    FormulaConfiguration,
    FormulaLike,
    as_formula_configurations,
)
from symact.report.html import ReportData, ReportFigure, ReportTable, write_report
from symact.report.statistics import (
    DEFAULT_SETTINGS,
    StatisticsSettings,
    runs_table,
    statistics_table,
)
from symact.report.tables import RecordLike, RunRecord, as_records, efficiency_table
from symact.report.transfer import plot_transfer_matrix, transfer_matrix


@dataclass(frozen=True)
class Review:
    """Every table of a run's review, computed once from the same records."""

    efficiency: pd.DataFrame
    statistics: pd.DataFrame
    runs: pd.DataFrame
    transfer: pd.DataFrame
    claims: ClaimsAudit
    formulas: tuple[FormulaConfiguration, ...]
    settings: StatisticsSettings


def build_review(
    records: Iterable[RecordLike],
    formulas: Iterable[FormulaLike] = (),
    *,
    settings: StatisticsSettings = DEFAULT_SETTINGS,
    discovery_part: str = "all",
) -> Review:
    """All tables of the review; the statistics are computed once and shared.
    ``discovery_part``: which rows discovery sampled (see :func:`audit_claims`)."""
    runs: list[RunRecord] = as_records(records)
    configs = tuple(as_formula_configurations(formulas))
    statistics = statistics_table(runs, settings=settings)
    return Review(
        efficiency=efficiency_table(runs),
        statistics=statistics,
        runs=runs_table(runs),
        transfer=transfer_matrix(runs, configs, statistics=statistics, settings=settings),
        claims=audit_claims(
            runs, configs, statistics=statistics, settings=settings, discovery_part=discovery_part
        ),
        formulas=configs,
        settings=settings,
    )


STATISTICS_NOTE = (
    "Every configuration against the fixed baselines Heavy ReLU and Light ReLU, per metric: "
    "differences (model minus baseline, raw units) paired by seed, their mean, 95% t-interval "
    "and seeded bootstrap interval, paired t and Wilcoxon signed-rank p, and Holm's step-down "
    "over p_t within each (dataset, baseline, metric) family. 'untestable': fewer than "
    "{min_pairs} pairs or no spread."
)
TRANSFER_NOTE = (
    "Each discovered formula on each dataset it was trained on: mean test AUC and the AUC "
    "difference to that dataset's Light ReLU (paired by seed, 95% t-interval, Holm p as in the "
    "statistics table). source == target is the Specialist."
)
CLAIMS_NOTE = (
    "The paper's claims decided on this run. The claims concern the method, so each is judged "
    "across every discovered formula of the run; 'test' states the rule, 'numbers' the "
    "evidence."
)
EFFICIENCY_NOTE = (
    "The paper's table (reference format): mean ± population std over seeds; Efficiency = "
    "AUC / log10(params), which mostly restates the parameter ratio."
)


def review_tables(review: Review) -> list[ReportTable]:
    """The review's tables in reading order: verdicts first, then the evidence."""
    return [
        # the verdict beside the claim: on a laptop the long evidence columns come after it
        ReportTable(
            "Claims audit",
            review.claims.table[["claim", "verdict", "numbers", "test"]],
            f"{CLAIMS_NOTE} {review.claims.discovery}",
            "claims",
        ),
        ReportTable("Efficiency table", review.efficiency, EFFICIENCY_NOTE, "efficiency"),
        ReportTable(
            "Statistics",
            review.statistics,
            STATISTICS_NOTE.format(min_pairs=review.settings.min_pairs),
            "statistics",
        ),
        ReportTable("Transfer matrix", review.transfer, TRANSFER_NOTE, "transfer"),
        ReportTable(
            "Formula configurations",
            [
                {
                    "dataset": c.dataset,
                    "model": c.model,
                    "role": c.role,
                    "source_dataset": c.source_dataset,
                    "discovery_seed": c.discovery_seed,
                    "formula": c.formula,
                }
                for c in review.formulas
            ],
            "Which labelled configuration trains which discovered formula.",
            "formulas",
        ),
        ReportTable("Runs", review.runs, "One row per training run.", "runs"),
    ]


def write_review(
    review: Review,
    out: str | Path,
    *,
    title: str = "symact report",
    run_settings: Mapping[str, Any] | None = None,
    provenance: Sequence[Mapping[str, Any]] = (),
    versions: Mapping[str, str] | None = None,
    figures: Sequence[ReportFigure] = (),
    generated: str = "",
) -> dict[str, Path]:
    """Write the review's CSVs, the transfer heatmap and report.html into ``out``.

    ``run_settings``, ``provenance`` and ``versions`` are shown as given (plain values);
    ``figures`` (e.g. the activation plots) follow the transfer heatmap. The statistics
    settings (bootstrap seed included) go to ``statistics_settings.json`` beside the CSVs,
    whose columns are fixed. Returns the paths written by name.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "statistics": out / "statistics.csv",
        "runs": out / "runs.csv",
        "transfer_matrix": out / "transfer_matrix.csv",
        "claims": out / "claims.csv",
    }
    review.statistics.to_csv(paths["statistics"], index=False, lineterminator="\n")
    review.runs.to_csv(paths["runs"], index=False, lineterminator="\n")
    review.transfer.to_csv(paths["transfer_matrix"], index=False, lineterminator="\n")
    review.claims.table.to_csv(paths["claims"], index=False, lineterminator="\n")
    paths["statistics_settings"] = out / "statistics_settings.json"
    paths["statistics_settings"].write_text(
        json.dumps(review.settings.as_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    shown = list(figures)
    if not review.transfer.empty:
        paths["transfer_matrix_png"] = plot_transfer_matrix(
            review.transfer, out / "transfer_matrix.png"
        )
        shown.insert(
            0,
            ReportFigure(
                "Transfer matrix",
                paths["transfer_matrix_png"],
                "AUC difference to the target's Light ReLU per source formula and target",
            ),
        )
    settings = {**(run_settings or {}), "statistics": review.settings.as_dict()}
    data = ReportData(
        title=title,
        settings=settings,
        provenance=provenance,
        versions=dict(versions or {}),
        tables=review_tables(review),
        figures=shown,
        notes=[review.claims.discovery, review.claims.more_seeds],
        generated=generated,
    )
    paths["report"] = write_report(data, out / "report.html")
    return paths
