"""The verdict on a search: selected on validation, judged on test with fresh seeds.

The ``top`` best searched formulas that are not themselves a baseline are trained from
scratch on the whole training part for ``final_epochs`` with the ``final_seeds`` (disjoint
from the search seeds) and scored on the test part, which nothing before read; beside them
Light ReLU, GELU, SiLU and, on binary data, the dataset's gplearn Specialist (discovered on
the training part only). Each finalist is compared with the best baseline *by validation
score* (never chosen on test, where the comparison would favour the baseline that happened
to do well on these test rows): the paired difference by seed, its 95% t-interval, the
paired t p-value, and Holm's step-down over the finalists. On other datasets
(``--evaluate-on``) the same verdict is repeated with that dataset's baselines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from symact.experiments.specs import DataSpec, RunSpec
from symact.formula.parser import parse_formula
from symact.formula.tree import Formula
from symact.report.statistics import holm, mean_confidence_interval
from symact.search.evolution import Candidate, Search, metric_of
from symact.search.screen import screen

#: The verdict's baselines: label -> formula (the Specialist is added per dataset).
BASELINES: tuple[tuple[str, str], ...] = (
    ("ReLU", "relu(x)"),
    ("GELU", "gelu(x)"),
    ("SiLU", "silu(x)"),
)
SPECIALIST = "Specialist"


@dataclass(frozen=True)
class Entry:
    """One row of a verdict: a finalist or a baseline on one dataset, and its final runs."""

    dataset: str  # display label
    activation: str  # "ReLU", ..., "Specialist", "candidate 1", ...
    formula: Formula
    learnable: bool
    val_score: float
    n_classes: int
    final_specs: tuple[RunSpec, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """What the verdict's table needs, without the specs: the runs by seed and key."""
        return {
            "dataset": self.dataset,
            "activation": self.activation,
            "formula": str(self.formula),
            "learnable": self.learnable,
            "val_score": None if math.isnan(self.val_score) else self.val_score,
            "n_classes": self.n_classes,
            "finals": [[s.seed, s.key()] for s in self.final_specs],
        }


def finalists(candidates: Sequence[Candidate], top: int) -> list[Candidate]:
    """The ``top`` trained candidates with the highest fitness whose values differ from
    every baseline's (a rediscovered ReLU is a baseline, not a finding)."""
    baseline_prints = {screen(parse_formula(f)).fingerprint for _, f in BASELINES}
    ranked = sorted(
        (c for c in candidates if c.status == "trained" and not math.isnan(c.fitness)),
        key=lambda c: (-c.fitness, c.index),
    )
    return [c for c in ranked if c.fingerprint not in baseline_prints and c.origin != "specialist"][
        :top
    ]


def baseline_formulas(specialist: Formula | None) -> list[tuple[str, Formula]]:
    rows = [(label, parse_formula(f)) for label, f in BASELINES]
    if specialist is not None:
        rows.append((SPECIALIST, specialist))
    return rows


def validation_score(search: Search, formula: Formula, data: DataSpec, learnable: bool) -> float:
    """Mean validation score over the search seeds (trains what is not stored)."""
    specs = search.run_specs(formula, data=data, learnable=learnable)
    search.train(specs)
    results = search.store.stored_runs(s.key() for s in specs)
    n_classes = search.cache.n_classes(data)
    scores = [metric_of(results.get(s.key()), n_classes) for s in specs]
    return math.nan if any(v is None for v in scores) else float(np.mean(scores))


def plan_verdict(
    search: Search,
    chosen: Sequence[Candidate],
    data: DataSpec,
    label: str,
    specialist: Formula | None,
) -> list[Entry]:
    """The verdict's rows on one dataset: baselines (validation scores measured where they
    are not known) and finalists, each with its final runs."""
    entries = []
    lc = search.settings.learnable_constants
    n = search.cache.n_classes(data)
    for name, formula in baseline_formulas(specialist):
        learnable = lc and name == SPECIALIST
        val = validation_score(search, formula, data, learnable)
        specs = search.run_specs(formula, final=True, data=data, learnable=learnable)
        entries.append(Entry(label, name, formula, learnable, val, n, tuple(specs)))
    for i, c in enumerate(chosen, start=1):
        val = c.fitness if data == search.data else validation_score(search, c.formula, data, lc)
        specs = search.run_specs(c.formula, final=True, data=data)
        entries.append(Entry(label, f"candidate {i}", c.formula, lc, val, n, tuple(specs)))
    return entries


def judge(entries: Sequence[dict[str, Any]], results: dict[str, dict]) -> list[dict[str, Any]]:
    """``search_results.csv`` rows of one dataset from ``Entry.to_dict`` records and the
    stored results of their final runs (see the module docstring)."""

    def val(e: dict[str, Any]) -> float:
        return math.nan if e["val_score"] is None else float(e["val_score"])

    baselines = [e for e in entries if not e["activation"].startswith("candidate")]
    scored = [e for e in baselines if not math.isnan(val(e))]
    best = max(scored, key=val) if scored else None
    best_scores = _scores(best, results) if best else {}
    rows, p_values = [], []
    for e in entries:
        finals = [results.get(key) for _, key in e["finals"]]
        ok = [r for r in finals if r and not r.get("failed")]
        acc, auc = [r["accuracy"] for r in ok], [r["auc"] for r in ok]
        row = {
            "dataset": e["dataset"],
            "activation": e["activation"],
            "formula": e["formula"],
            "learned_formula": _learned(finals),
            "val_score": val(e),
            "test_acc_mean": _mean(acc),
            "test_acc_std": _std(acc),
            "test_auc_mean": _mean(auc),
            "test_auc_std": _std(auc),
            "n_seeds": len(ok),
            "best_baseline": best["activation"] if best else "",
            "diff_vs_best_baseline": math.nan,
            "ci_low": math.nan,
            "ci_high": math.nan,
            "p_value": math.nan,
            "p_holm": math.nan,
        }
        if best is not None and e is not best:
            mine = _scores(e, results)
            seeds = sorted(set(mine) & set(best_scores))
            d = np.array([mine[s] - best_scores[s] for s in seeds])
            if d.size:
                mean, lo, hi = mean_confidence_interval(d)
                row.update(diff_vs_best_baseline=mean, ci_low=lo, ci_high=hi)
                if d.size >= 2 and np.ptp(d) > 0:
                    row["p_value"] = float(stats.ttest_1samp(d, 0.0).pvalue)
        rows.append(row)
        if e["activation"].startswith("candidate"):
            p_values.append((len(rows) - 1, row["p_value"]))
    adjusted = holm([p for _, p in p_values])  # NaN (untestable) entries stay NaN
    for (i, _), p in zip(p_values, adjusted, strict=True):
        rows[i]["p_holm"] = float(p)
    return rows


def _scores(e: dict[str, Any], results: dict[str, dict]) -> dict[int, float]:
    out = {}
    for seed, key in e["finals"]:
        v = metric_of(results.get(key), e["n_classes"])
        if v is not None:
            out[int(seed)] = v
    return out


def _learned(finals: list) -> str:
    for r in finals:
        if r and r.get("learned_formulas"):
            return " | ".join(r["learned_formulas"])
    return ""


def _mean(v: list) -> float:
    return float(np.mean(v)) if v else math.nan


def _std(v: list) -> float:
    return float(np.std(v)) if v else math.nan
