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
from symact.report.suite import (
    NOT_DECIDABLE,
    configuration_sentence,
    suite_ranking,
    suite_statistics,
)
from symact.report.suite_plots import (
    plot_claim_forest,
    plot_critical_difference,
    plot_forest,
    plot_pareto,
)
from symact.report.tables import (
    HEAVY_BASELINE,
    LIGHT_BASELINE,
    RecordLike,
    RunRecord,
    as_records,
    efficiency_table,
    model_label,
)
from symact.report.transfer import plot_transfer_matrix, transfer_matrix

#: the paper's datasets (report labels): its claims are shown only for runs holding one
PAPER_DATASETS = frozenset({"HIGGS", "FOREST_COVER", "SPAMBASE"})


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
    suite: pd.DataFrame
    records: tuple[RunRecord, ...] = ()

    @property
    def holds_paper_datasets(self) -> bool:
        """Whether the paper's claims concern this run (it trained on one of its datasets)."""
        return bool(PAPER_DATASETS & set(self.runs["dataset"]))


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
        suite=suite_statistics(runs, settings=settings),
        records=tuple(runs),
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


SUITE_NOTE = (
    "Every model against Light ReLU and Heavy ReLU across the datasets (suite_statistics.csv "
    "has every column). W/T/L: datasets won / tied / lost by the paired t test per dataset, "
    "Holm over the suite's datasets; gap closed: median [IQR] share of each dataset's Light "
    "ReLU to Heavy ReLU gap; Wilcoxon signed-rank across datasets on the per-dataset mean "
    "differences; mean rank among all models with Friedman's test and Nemenyi's critical "
    "difference (Demšar 2006). 'not decidable': too few datasets for the test to reach alpha."
)
#: the statistics columns a reader needs to see at 1280 px; the rest is folded
STATISTICS_SHOWN = (
    "dataset",
    "model",
    "baseline",
    "metric",
    "mean_diff",
    "ci_low",
    "ci_high",
    "p_holm",
    "significant",
)


def suite_rows(suite: pd.DataFrame) -> list[dict[str, object]]:
    """The verdict table as shown: few, labelled columns (the CSV keeps them all)."""
    return [
        {
            "model": r["model"],
            "baseline": r["baseline"],
            "metric": r["metric"],
            "W/T/L": f"{r['wins']}/{r['ties']}/{r['losses']}",
            "median_diff": r["median_diff"],
            "gap closed": (
                "n/a"
                if pd.isna(r["gap_closed_median"])
                else f"{r['gap_closed_median']:.0%} [{r['gap_closed_q1']:.0%}, "
                f"{r['gap_closed_q3']:.0%}]"
            ),
            "wilcoxon_p": r["wilcoxon_p"],
            "across datasets": r["wilcoxon_verdict"],
            "mean_rank": r["mean_rank"],
            "by rank": r["rank_verdict"],
        }
        for r in suite.to_dict("records")
    ]


def review_tables(review: Review, *, claims: bool = True) -> list[ReportTable]:
    """The review's tables in reading order: verdicts first, then the evidence (folded).
    ``claims``: show the paper's claims audit (runs on the paper's datasets)."""
    statistics_note = STATISTICS_NOTE.format(min_pairs=review.settings.min_pairs)
    tables = []
    if not review.suite.empty:
        tables.append(ReportTable("Verdict table", suite_rows(review.suite), SUITE_NOTE, "suite"))
    if claims:
        tables.append(
            ReportTable(
                "Claims audit",
                review.claims.table[["claim", "verdict"]],
                f"{CLAIMS_NOTE} {review.claims.discovery}",
                "claims",
            )
        )
        tables.append(
            ReportTable(
                "Claims: the evidence",
                review.claims.table[["claim", "numbers", "test"]],
                "Each claim's numbers and the rule that decided it.",
                "claims-evidence",
                folded=True,
            )
        )
    return [
        *tables,
        ReportTable(
            "Statistics",
            review.statistics[list(STATISTICS_SHOWN)],
            statistics_note,
            "statistics",
        ),
        ReportTable("Efficiency table", review.efficiency, EFFICIENCY_NOTE, "efficiency"),
        ReportTable(
            "Statistics, every column",
            review.statistics,
            "The statistics with bootstrap intervals and both tests' raw p-values.",
            "statistics-full",
            folded=True,
        ),
        *(
            []
            if review.transfer.empty
            else [ReportTable("Transfer matrix", review.transfer, TRANSFER_NOTE, "transfer")]
        ),
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
            folded=True,
        ),
        ReportTable("Runs", review.runs, "One row per training run.", "runs", folded=True),
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
    tables: Sequence[ReportTable] = (),
    notes: Sequence[str] = (),
) -> dict[str, Path]:
    """Write the review's CSVs, the transfer heatmap and report.html into ``out``.

    ``run_settings``, ``provenance`` and ``versions`` are shown as given (plain values);
    ``figures`` (e.g. the activation plots) follow the transfer heatmap; ``tables`` (e.g.
    learned constants) follow the verdict tables. The statistics
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
        "suite_statistics": out / "suite_statistics.csv",
    }
    review.suite.to_csv(paths["suite_statistics"], index=False, lineterminator="\n")
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
    verdict, verdict_figures = _verdict(review, out, paths)
    data = ReportData(
        title=title,
        settings=settings,
        provenance=provenance,
        versions=dict(versions or {}),
        tables=_with_extra(review_tables(review, claims=review.holds_paper_datasets), tables),
        verdict_title=(
            "Verdict across datasets"
            if review.holds_paper_datasets
            else "Did my activations beat ReLU?"
        ),
        verdict=verdict,
        verdict_figures=verdict_figures,
        figures=shown,
        notes=[*notes, review.claims.discovery, review.claims.more_seeds],
        generated=generated,
    )
    paths["report"] = write_report(data, out / "report.html")
    return paths


def _verdict(
    review: Review, out: Path, paths: dict[str, Path]
) -> tuple[list[str], list[ReportFigure]]:
    """The page's opening: one sentence and one forest plot per configuration (AUC against
    Light and Heavy ReLU per dataset), the critical-difference diagram and the Pareto view.
    Figures are written beside the CSVs; their paths go into ``paths``."""
    baselines = {model_label(*LIGHT_BASELINE), model_label(*HEAVY_BASELINE)}
    models = [m for m in dict.fromkeys(review.suite["model"]) if m not in baselines]
    sentences: list[str] = []
    figures: list[ReportFigure] = []
    finished = review.runs[~review.runs["failed"]]
    datasets = set(finished["dataset"])
    if len(datasets) >= 2 and finished["model"].nunique() >= 2:
        ranking = suite_ranking(review.records, "auc", review.settings.alpha)
        if not ranking.decidable:  # with too few datasets a diagram could only mislead
            sentences.append(
                f"Mean ranks over {ranking.n_datasets} datasets holding every model: "
                f"{NOT_DECIDABLE}: Friedman and Nemenyi need {ranking.datasets_needed}."
            )
        else:
            paths["critical_difference_png"] = plot_critical_difference(
                ranking, out / "critical_difference.png"
            )
            figures.append(
                ReportFigure(
                    "Mean rank across datasets",
                    paths["critical_difference_png"],
                    f"Critical-difference diagram on AUC (Nemenyi, alpha = "
                    f"{review.settings.alpha}); models joined by a bar are not told apart",
                )
            )
    if review.holds_paper_datasets:
        claims = list(review.claims.table["claim"])
        judgements = review.claims.judgements or (None,) * len(claims)
        for i, (claim, judgement) in enumerate(zip(claims, judgements, strict=True)):
            if judgement is None or not judgement.comparisons:
                continue
            key = f"claim_{i}_png"
            paths[key] = plot_claim_forest(claim, judgement, out / f"claim_{i}.png")
            figures.append(
                ReportFigure(
                    f"Claim {claim.split(' ', 1)[0]}: {judgement.verdict}",
                    paths[key],
                    "Each comparison the claim makes; blue supports it, red contradicts it, "
                    "grey is undecided",
                )
            )
    for i, model in enumerate(models):
        sentences.append(configuration_sentence(review.suite, model))
        key = f"forest_{i}_png"
        paths[key] = plot_forest(review.statistics, model, out / f"forest_{i}.png")
        figures.append(
            ReportFigure(
                f"{model} per dataset",
                paths[key],
                "AUC difference to Light ReLU and Heavy ReLU per dataset, mean over seeds with "
                "its 95% t-interval; filled markers are significant (Holm within the dataset)",
            )
        )
    if model_label(*LIGHT_BASELINE) in set(finished["model"]):
        paths["pareto_png"] = plot_pareto(review.records, out / "pareto.png")
        figures.append(
            ReportFigure(
                "AUC against parameters across the suite",
                paths["pareto_png"],
                "Median over datasets of each model's AUC gain over Light ReLU (bars: "
                "interquartile range) against its median parameter count",
            )
        )
    return sentences, figures


def _with_extra(tables: list[ReportTable], extra: Sequence[ReportTable]) -> list[ReportTable]:
    """``extra`` after the verdict tables (suite, claims), before the evidence."""
    verdicts = [t for t in tables if t.anchor in ("suite", "claims", "claims-evidence")]
    return [*verdicts, *extra, *(t for t in tables if t not in verdicts)]
