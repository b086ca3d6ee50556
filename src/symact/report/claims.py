"""The paper's claims, each decided on a run's records: holds, does not hold, or undecidable.

The claims are about the *method* (discover a formula, use it as the activation), not about
one formula, so a run may hold several discoveries per dataset (one per discovery seed, each
its own :class:`FormulaConfiguration`) and every claim is judged across all of them.

Every claim is a set of paired comparisons (by seed, on test AUC unless said otherwise), each
with a direction the claim predicts. One rule decides them all:

* A comparison *supports* the claim when Holm's adjusted paired-t p (over the claim's own
  comparisons) is below alpha and both its 95% intervals (t and bootstrap) lie on the
  predicted side of the null; it *contradicts* when they lie, as significantly, on the other
  side; otherwise it is *undecided*.
* A formula supports when all its comparisons do, contradicts when any of them does.
* The claim **holds** when every formula supports it and **does not hold** when any formula
  contradicts it; otherwise it is **not decidable with these seeds**. It is not decidable
  either whenever the seeds cannot decide at all: when even the exact Wilcoxon test at its
  best (2 / 2^n for n pairs, times the number of comparisons for Holm's first step) cannot
  reach alpha — with one comparison, fewer than 6 seeds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from symact.report.configurations import (
    SPECIALIST,
    FormulaConfiguration,
    FormulaLike,
    as_formula_configurations,
)
from symact.report.statistics import (
    DEFAULT_SETTINGS,
    PairedTest,
    StatisticsSettings,
    holm,
    paired_test,
    pairs_needed,
    seed_differences,
    smallest_wilcoxon_p,
    statistics_table,
)
from symact.report.tables import (
    HEAVY_BASELINE,
    LIGHT_BASELINE,
    RecordLike,
    RunRecord,
    as_records,
    efficiency,
    model_label,
    shared_params,
)

CLAIMS_COLUMNS: tuple[str, ...] = ("claim", "test", "numbers", "verdict", "discovery_rows")

#: Which rows the Specialist's discovery drew its sample from (``--discovery-part``), as
#: claims.csv's ``discovery_rows`` says it, and the sentence the report adds.
DISCOVERY_PARTS: dict[str, tuple[str, str]] = {
    "all": (
        "all rows: overlaps each split's test rows",
        "Discovery drew its sample from all rows of each dataset (the paper's protocol, "
        "--discovery-part all): the Specialist's formula has seen rows that are later test "
        "rows of the runs it is judged with, so claims about the Specialist (and its "
        "Efficiency) may be flattered by that leak. --discovery-part train discovers on each "
        "split's training part only.",
    ),
    "train": (
        "training part of each split",
        "Discovery drew its sample from each split's training part only (--discovery-part "
        "train): no formula has seen the test rows it is judged on; each seed's runs train "
        "the formula discovered on its own split. The paper's protocol (--discovery-part all) "
        "samples all rows, test rows included.",
    ),
}


def discovery_part_note(part: str) -> str:
    """The report's sentence on which rows discovery saw (see :data:`DISCOVERY_PARTS`)."""
    if part not in DISCOVERY_PARTS:
        raise ValueError(f"discovery part must be one of {sorted(DISCOVERY_PARTS)}, got {part!r}")
    return DISCOVERY_PARTS[part][1]


HOLDS = "holds"
DOES_NOT_HOLD = "does not hold"
NOT_DECIDABLE = "not decidable with these seeds"
DATASET_ABSENT = "not tested (dataset not in this run)"
CONFIGURATION_ABSENT = "not tested (configuration not in this run)"
VERDICTS: tuple[str, ...] = (
    HOLDS,
    DOES_NOT_HOLD,
    NOT_DECIDABLE,
    DATASET_ABSENT,
    CONFIGURATION_ABSENT,
)

# The paper's dataset labels (experiments' display names) and the efficiency gain it reports.
HIGGS = "HIGGS"
FOREST_COVER = "FOREST_COVER"
SPAMBASE = "SPAMBASE"
PAPER_EFFICIENCY_GAIN = 0.18  # "18-21% higher efficiency": the low end is what is claimed

HEAVY = model_label(*HEAVY_BASELINE)
LIGHT_RELU = model_label(*LIGHT_BASELINE)
LIGHT_GELU = "Light GELU"
LIGHT_SILU = "Light SiLU"

SUPPORTS = "supports"
CONTRADICTS = "contradicts"
UNDECIDED = "undecided"

_RULE = (
    "Holm over the claim's comparisons; one counts when Holm's p < {alpha} and both 95% "
    "intervals (t, bootstrap) exclude {null}. Holds if every formula counts for the claim, does "
    "not hold if any formula counts against it, else not decidable (always so when even "
    "Wilcoxon's best p, 2/2^n, times the number of comparisons exceeds {alpha})."
)


@dataclass(frozen=True)
class Comparison:
    """One paired comparison a claim makes: ``model`` against ``baseline`` on ``dataset``.

    ``direction`` is what the claim predicts for the mean difference (+1 above ``null``, -1
    below); ``formula`` groups the comparisons of one formula configuration.
    """

    dataset: str
    model: str
    baseline: str
    formula: str
    direction: int
    test: PairedTest
    null: float = 0.0


@dataclass(frozen=True)
class Judgement:
    """A claim's comparisons after Holm: each comparison's adjusted p and outcome, and the
    verdict they give."""

    comparisons: tuple[Comparison, ...]
    p_holm: tuple[float, ...]
    outcomes: tuple[str, ...]
    formula_outcomes: dict[str, str]
    verdict: str
    decidable: bool


@dataclass(frozen=True)
class ClaimsAudit:
    """``table``: claims.csv (columns ``CLAIMS_COLUMNS``); ``more_seeds``: one sentence on what
    more seeds would change (the smallest p reachable and the interval widths);
    ``discovery``: which rows discovery saw, and what that means for the claims."""

    table: pd.DataFrame
    more_seeds: str
    discovery: str = DISCOVERY_PARTS["all"][1]
    #: per claim (table order): its comparisons and their outcomes, None where none was made
    judgements: tuple[Judgement | None, ...] = ()


def judge(comparisons: Sequence[Comparison], settings: StatisticsSettings) -> Judgement:
    """Apply the module's decision rule to one claim's comparisons."""
    comps = tuple(comparisons)
    p_holm = holm([c.test.p_t for c in comps])
    n_min = min((c.test.n_pairs for c in comps), default=0)
    decidable = (
        bool(comps)
        and n_min >= settings.min_pairs
        and len(comps) * smallest_wilcoxon_p(n_min) <= settings.alpha
    )
    outcomes = tuple(
        _outcome(c, float(p), settings) if decidable else UNDECIDED
        for c, p in zip(comps, p_holm, strict=True)
    )
    by_formula: dict[str, list[str]] = {}
    for c, o in zip(comps, outcomes, strict=True):
        by_formula.setdefault(c.formula, []).append(o)
    formula_outcomes = {f: _all_or_any(os) for f, os in by_formula.items()}
    verdict = _all_or_any(list(formula_outcomes.values()))
    verdict = {SUPPORTS: HOLDS, CONTRADICTS: DOES_NOT_HOLD, UNDECIDED: NOT_DECIDABLE}[verdict]
    return Judgement(
        comps, tuple(float(p) for p in p_holm), outcomes, formula_outcomes, verdict, decidable
    )


def _outcome(c: Comparison, p_holm: float, settings: StatisticsSettings) -> str:
    t = c.test
    if math.isnan(p_holm) or p_holm >= settings.alpha:
        return UNDECIDED
    above = t.ci_low > c.null and t.ci_boot_low > c.null
    below = t.ci_high < c.null and t.ci_boot_high < c.null
    if (above and c.direction > 0) or (below and c.direction < 0):
        return SUPPORTS
    if above or below:
        return CONTRADICTS
    return UNDECIDED


def _all_or_any(outcomes: Sequence[str]) -> str:
    if outcomes and all(o == SUPPORTS for o in outcomes):
        return SUPPORTS
    if any(o == CONTRADICTS for o in outcomes):
        return CONTRADICTS
    return UNDECIDED


# --- the claims ------------------------------------------------------------------------------


def audit_claims(
    records: Iterable[RecordLike],
    formulas: Iterable[FormulaLike],
    *,
    statistics: pd.DataFrame | None = None,
    settings: StatisticsSettings = DEFAULT_SETTINGS,
    discovery_part: str = "all",
) -> ClaimsAudit:
    """``claims.csv`` and the "what more seeds change" sentence for one run's records.

    ``formulas`` names the formula configurations (see :class:`FormulaConfiguration`); the
    paper's datasets are recognised by their labels HIGGS, FOREST_COVER and SPAMBASE. Claim
    (a) is judged on every dataset of the run, (b)-(d) on the paper's datasets.
    ``statistics``: a ``statistics_table`` of the same records, to reuse (else computed).
    ``discovery_part``: the rows discovery sampled, ``"all"`` (the paper's, overlapping test
    rows) or ``"train"`` (each split's training part); every row and the audit say which.
    """
    note = discovery_part_note(discovery_part)
    runs = as_records(records)
    configs = as_formula_configurations(formulas)
    if statistics is None:
        statistics = statistics_table(runs, settings=settings)
    groups = _groups(runs)
    rows = [
        _claim_efficiency(groups, configs, statistics, settings),
        _claim_transfer_beats(groups, configs, settings),
        _claim_specialist_best(groups, configs, settings),
        _claim_text_transfer_fails(groups, configs, settings),
    ]
    table = pd.DataFrame(rows, columns=list(CLAIMS_COLUMNS[:-1]))
    table["discovery_rows"] = DISCOVERY_PARTS[discovery_part][0]
    judgements = tuple(row["judgement"] for row in rows)
    return ClaimsAudit(table, more_seeds_note(statistics, settings), note, judgements)


def _groups(runs: Sequence[RunRecord]) -> dict[tuple[str, str], list[RunRecord]]:
    groups: dict[tuple[str, str], list[RunRecord]] = {}
    for r in runs:
        groups.setdefault((r.dataset, r.model), []).append(r)
    return groups


def _datasets(groups: dict[tuple[str, str], list[RunRecord]]) -> set[str]:
    return {ds for ds, _ in groups}


def _compare(
    groups: dict[tuple[str, str], list[RunRecord]],
    dataset: str,
    model: str,
    baseline: str,
    formula: str,
    direction: int,
    settings: StatisticsSettings,
) -> Comparison:
    diffs = seed_differences(groups[(dataset, model)], groups[(dataset, baseline)], "auc")
    test = paired_test(list(diffs.values()), settings)
    return Comparison(dataset, model, baseline, formula, direction, test)


def _fmt_diff(c: Comparison, p_holm: float) -> str:
    t = c.test
    ci = f"[{t.ci_low:+.4f}, {t.ci_high:+.4f}]"
    return f"{t.mean_diff:+.4f} {ci} (Holm p={p_holm:.2g}, n={t.n_pairs})"


def _seeds_line(j: Judgement, settings: StatisticsSettings) -> str:
    n = min((c.test.n_pairs for c in j.comparisons), default=0)
    m = len(j.comparisons)
    best = smallest_wilcoxon_p(n)
    line = (
        f"n={n} seeds, {m} comparisons: smallest Wilcoxon p 2/2^{n} = {best:.3g}, x{m} for "
        f"Holm's first step = {min(1.0, m * best):.3g}"
    )
    if not j.decidable:
        line += f" > {settings.alpha}: at least {pairs_needed(settings.alpha, m)} seeds needed"
    return line


def _count_line(j: Judgement, what: str) -> str:
    outcomes = list(j.formula_outcomes.values())
    n = len(outcomes)
    return (
        f"{outcomes.count(SUPPORTS)} of {n} {what}, Holm-significant; "
        f"{outcomes.count(CONTRADICTS)} of {n} significantly against; "
        f"{outcomes.count(UNDECIDED)} of {n} undecided"
    )


def _row(
    claim: str,
    test: str,
    numbers: Sequence[str],
    verdict: str,
    judgement: Judgement | None = None,
) -> dict[str, object]:
    return {
        "claim": claim,
        "test": test,
        "numbers": "\n".join(numbers),
        "verdict": verdict,
        "judgement": judgement,
    }


def _missing_models(groups, dataset: str, models: Sequence[str]) -> list[str]:
    return [m for m in models if (dataset, m) not in groups]


def _formula_name(c: FormulaConfiguration) -> str:
    # One label can recur on several datasets (a transfer from HIGGS on two targets).
    return f"{c.dataset}: {c.model} = {c.formula}"


CLAIM_A = (
    "(a) Light models with discovered activations reach 18-21% higher efficiency "
    "(AUC / log10 params) than Heavy ReLU"
)
CLAIM_B = (
    "(b) On FOREST_COVER the transferred HIGGS formula beats Light ReLU, GELU and SiLU (test AUC)"
)
CLAIM_C = "(c) On SPAMBASE the Specialist (its own discovered formula) is the best light model"
CLAIM_D = "(d) Physics -> text transfer fails: HIGGS's formula on SPAMBASE is worse than Light ReLU"


def _claim_efficiency(groups, configs, statistics: pd.DataFrame, settings) -> dict[str, str]:
    candidates = [c for c in configs if (c.dataset, c.model) in groups]
    candidates = [c for c in candidates if (c.dataset, HEAVY) in groups]
    null = PAPER_EFFICIENCY_GAIN
    test = (
        "Per discovered configuration and seed: efficiency gain = (AUC/log10 P) / "
        "(AUC_heavy/log10 P_heavy) - 1 on the same seed; paired t of the mean gain against "
        f"{null:.0%}. " + _RULE.format(alpha=settings.alpha, null=f"{null:.0%}")
    )
    if not configs or not any(c.dataset in _datasets(groups) for c in configs):
        return _row(CLAIM_A, test, ["no formula configuration in this run"], CONFIGURATION_ABSENT)
    if not candidates:
        return _row(
            CLAIM_A,
            test,
            ["no dataset has both Heavy ReLU and a formula run"],
            CONFIGURATION_ABSENT,
        )
    comparisons = []
    for c in candidates:
        gains = _efficiency_gains(groups[(c.dataset, c.model)], groups[(c.dataset, HEAVY)])
        comparisons.append(
            Comparison(
                c.dataset,
                c.model,
                HEAVY,
                _formula_name(c),
                +1,
                paired_test(gains, settings, null=null),
                null,
            )
        )
    j = judge(comparisons, settings)
    vs_heavy = statistics[(statistics["baseline"] == HEAVY) & (statistics["metric"] == "auc")]
    vs_heavy = vs_heavy.set_index(["dataset", "model"])
    numbers = [_count_line(j, f"configurations gain significantly more than {null:.0%}")]
    for ds in sorted({c.dataset for c in candidates}):
        mine = [
            (c, p, o)
            for c, p, o in zip(j.comparisons, j.p_holm, j.outcomes, strict=True)
            if c.dataset == ds
        ]
        light_p = shared_params((ds, "light"), groups[(ds, mine[0][0].model)])
        heavy_p = shared_params((ds, "heavy"), groups[(ds, HEAVY)])
        ratio = math.log10(heavy_p) / math.log10(light_p) - 1.0
        below = [
            c.model
            for c, _, _ in mine
            if (ds, c.model) in vs_heavy.index
            and vs_heavy.loc[(ds, c.model), "significant"] == "yes"
            and vs_heavy.loc[(ds, c.model), "mean_diff"] < 0
        ]
        gains = "; ".join(
            f"{c.model}: {c.test.mean_diff:+.1%} [{c.test.ci_low:+.1%}, {c.test.ci_high:+.1%}]"
            for c, _, _ in mine
        )
        numbers.append(
            f"{ds}: gain {gains}; the parameter ratio alone gives "
            f"log10({heavy_p})/log10({light_p}) - 1 = {ratio:+.1%} (an equally accurate light "
            f"model); AUC significantly below Heavy ReLU: {len(below)} of {len(mine)}"
        )
    numbers.append(_seeds_line(j, settings))
    return _row(CLAIM_A, test, numbers, j.verdict, j)


def _efficiency_gains(mine: Sequence[RunRecord], heavy: Sequence[RunRecord]) -> list[float]:
    """Per seed, the paper's relative Efficiency gain of ``mine`` over ``heavy``."""
    p = shared_params(("model", "light"), mine)
    p_heavy = shared_params(("model", "heavy"), heavy)
    ours = {r.seed: r for r in mine if not r.failed}
    theirs = {r.seed: r for r in heavy if not r.failed}
    return [
        efficiency(ours[s].auc, p) / efficiency(theirs[s].auc, p_heavy) - 1.0
        for s in sorted(set(ours) & set(theirs))
    ]


def _against_baselines(
    groups,
    configs: Sequence[FormulaConfiguration],
    baselines_of: Callable[[FormulaConfiguration], Sequence[str]],
    direction: int,
    settings: StatisticsSettings,
) -> Judgement:
    comparisons = [
        _compare(groups, c.dataset, c.model, b, _formula_name(c), direction, settings)
        for c in configs
        for b in baselines_of(c)
    ]
    return judge(comparisons, settings)


def _detail_lines(j: Judgement) -> list[str]:
    lines = []
    for formula, outcome in j.formula_outcomes.items():
        parts = [
            f"vs {c.baseline} {_fmt_diff(c, p)}"
            for c, p in zip(j.comparisons, j.p_holm, strict=True)
            if c.formula == formula
        ]
        lines.append(f"{formula} [{outcome}]: " + "; ".join(parts))
    return lines


def _claim_transfer_beats(groups, configs, settings) -> dict[str, str]:
    baselines = (LIGHT_RELU, LIGHT_GELU, LIGHT_SILU)
    mine = [
        c
        for c in configs
        if c.dataset == FOREST_COVER
        and c.source_dataset == HIGGS
        and (c.dataset, c.model) in groups
    ]
    test = (
        "Each HIGGS formula on FOREST_COVER against Light ReLU, GELU and SiLU: paired "
        "differences of test AUC by seed. " + _RULE.format(alpha=settings.alpha, null=0)
    )
    if FOREST_COVER not in _datasets(groups):
        return _row(CLAIM_B, test, [f"{FOREST_COVER} has no runs here"], DATASET_ABSENT)
    missing = _missing_models(groups, FOREST_COVER, baselines)
    if not mine or missing:
        what = missing or ["a HIGGS formula on FOREST_COVER"]
        return _row(CLAIM_B, test, [f"missing: {', '.join(what)}"], CONFIGURATION_ABSENT)
    j = _against_baselines(groups, mine, lambda _c: baselines, +1, settings)
    numbers = [
        _count_line(j, "HIGGS formulas beat all three"),
        *_detail_lines(j),
        _seeds_line(j, settings),
    ]
    return _row(CLAIM_B, test, numbers, j.verdict, j)


def _claim_specialist_best(groups, configs, settings) -> dict[str, str]:
    on_spam = [c for c in configs if c.dataset == SPAMBASE and (c.dataset, c.model) in groups]
    specialists = [c for c in on_spam if c.role == SPECIALIST]
    specialist_models = {c.model for c in specialists}
    rivals = sorted(
        model
        for (ds, model), runs in groups.items()
        if ds == SPAMBASE and runs[0].architecture == "Light" and model not in specialist_models
    )
    test = (
        "Each SPAMBASE Specialist against every other light model on SPAMBASE (Light "
        "ReLU/GELU/SiLU and the transferred formulas; other discoveries' Specialists are the "
        "same method and not rivals): paired differences of test AUC by seed. "
        + _RULE.format(alpha=settings.alpha, null=0)
    )
    if SPAMBASE not in _datasets(groups):
        return _row(CLAIM_C, test, [f"{SPAMBASE} has no runs here"], DATASET_ABSENT)
    if not specialists or not rivals:
        what = "a Specialist on SPAMBASE" if not specialists else "another light model on SPAMBASE"
        return _row(CLAIM_C, test, [f"missing: {what}"], CONFIGURATION_ABSENT)
    j = _against_baselines(groups, specialists, lambda _c: rivals, +1, settings)
    numbers = [
        _count_line(j, "Specialists beat every other light model"),
        *_detail_lines(j),
        _seeds_line(j, settings),
    ]
    return _row(CLAIM_C, test, numbers, j.verdict, j)


def _claim_text_transfer_fails(groups, configs, settings) -> dict[str, str]:
    mine = [
        c
        for c in configs
        if c.dataset == SPAMBASE and c.source_dataset == HIGGS and (c.dataset, c.model) in groups
    ]
    test = (
        "Each HIGGS formula on SPAMBASE against Light ReLU: paired differences of test AUC by "
        "seed, predicted negative. " + _RULE.format(alpha=settings.alpha, null=0)
    )
    if SPAMBASE not in _datasets(groups):
        return _row(CLAIM_D, test, [f"{SPAMBASE} has no runs here"], DATASET_ABSENT)
    missing = _missing_models(groups, SPAMBASE, [LIGHT_RELU])
    if not mine or missing:
        what = missing or ["a HIGGS formula on SPAMBASE"]
        return _row(CLAIM_D, test, [f"missing: {', '.join(what)}"], CONFIGURATION_ABSENT)
    j = _against_baselines(groups, mine, lambda _c: [LIGHT_RELU], -1, settings)
    numbers = [
        _count_line(j, "HIGGS formulas are worse than Light ReLU"),
        *_detail_lines(j),
        _seeds_line(j, settings),
    ]
    return _row(CLAIM_D, test, numbers, j.verdict, j)


# --- what more seeds change ------------------------------------------------------------------


def more_seeds_note(
    statistics: pd.DataFrame, settings: StatisticsSettings = DEFAULT_SETTINGS
) -> str:
    """One sentence: what the seeds of this run can and cannot show, and what more would give.

    From the AUC rows of a ``statistics_table``: the typical number of pairs n, the smallest
    two-sided Wilcoxon p it allows (2/2^n), the seeds Holm's largest family would need, and
    the median 95% t half-width of an AUC difference now and, with the same spread, with
    twice the seeds (half-width = t(0.975, n-1) * s / sqrt(n), scipy's t quantiles).
    """
    auc = statistics[(statistics["metric"] == "auc") & (statistics["n_pairs"] >= 2)]
    if auc.empty:
        return "No comparison has two paired seeds: nothing can be estimated, let alone tested."
    n = int(auc["n_pairs"].median())
    family = int(auc.groupby(["dataset", "baseline"]).size().max())
    best = smallest_wilcoxon_p(n)
    q = 0.5 + settings.confidence / 2.0
    widths = (auc["ci_high"] - auc["ci_low"]) / 2.0
    spreads = widths * np.sqrt(auc["n_pairs"]) / stats.t.ppf(q, auc["n_pairs"] - 1)
    s = float(np.nanmedian(spreads))
    half_now = float(np.nanmedian(widths))
    half_2n = float(stats.t.ppf(q, 2 * n - 1)) * s / math.sqrt(2 * n)
    need_one = pairs_needed(settings.alpha)
    need_family = pairs_needed(settings.alpha, family)
    reach = (
        f"below {settings.alpha} is out of reach (the fewest seeds that can reach it is {need_one})"
        if best > settings.alpha
        else f"a single comparison can reach {settings.alpha}"
    )
    return (
        f"With n = {n} paired seeds the smallest two-sided Wilcoxon p is 2/2^{n} = {best:.3g}: "
        f"{reach}; Holm over the largest family here ({family} comparisons) needs at least "
        f"{need_family} seeds before any Wilcoxon test can pass. The {settings.confidence:.0%} "
        f"t-interval of an AUC difference is now about ±{half_now:.4f} (median); with the same "
        f"spread, {2 * n} seeds would narrow it to about ±{half_2n:.4f}."
    )
