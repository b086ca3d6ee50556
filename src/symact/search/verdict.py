"""The verdict on a search: selected on validation, judged on test with fresh seeds.

The finalists (the ``top`` best of the last rung, ``search.rungs``: ``final_epochs`` on the
selection rows, which the search's fitness never read) are trained from scratch on the whole
training part for ``final_epochs`` with the ``final_seeds`` (disjoint from every earlier
stage's) and scored on the test part, which nothing before read; beside them Light ReLU,
GELU, SiLU, the parametric baselines reviewers expect (PReLU, its slope learned per layer;
param:ReLU, RealMLP's x + a(relu(x) - x) with one a per neuron) and, on binary data, the
dataset's gplearn Specialist (discovered on the training part only), scored on the selection
rows as the last rung is. Each finalist is compared with
the best baseline *by that validation score* (never chosen on test, where the comparison
would favour the baseline that happened to do well on these test rows): the paired
difference by seed, its 95% t-interval, the paired t p-value, and Holm's step-down over the
finalists. A finalist is *offered* as better only where it beat that baseline on the
selection rows; otherwise the verdict says the search found nothing better than it. On other
datasets (``--evaluate-on``) the same verdict is repeated with that dataset's baselines.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from symact.experiments.specs import DataSpec, RunSpec
from symact.formula.named import named_activation
from symact.formula.parser import parse_formula
from symact.formula.tree import Formula
from symact.models.spec import split_parametric
from symact.numbers import finite_or_none, none_as_nan
from symact.report.statistics import holm, mean_confidence_interval
from symact.search.evolution import Candidate, Search, metric_of, selection_metric, stage_score
from symact.search.screen import FINGERPRINT_POINTS, screen

#: The verdict's baselines: label -> activation as ``ModelSpec.with_activation`` takes it
#: (the Specialist is added per dataset). ReLU, GELU and SiLU are written as formulas, as
#: the search's candidates are (their run keys are those of every earlier search); PReLU
#: (its slope learned, ``named.py``) and the ``param:`` form (``ModelSpec.parametric``) by
#: the names ``symact benchmark`` uses.
BASELINES: tuple[tuple[str, str], ...] = (
    ("ReLU", "relu(x)"),
    ("GELU", "gelu(x)"),
    ("SiLU", "silu(x)"),
    ("PReLU", "prelu"),
    ("param:ReLU", "param:relu"),
)
SPECIALIST = "Specialist"


def finalist_label(i: int) -> str:
    """The verdict's row name of finalist ``i`` (from 1); every other row is a baseline."""
    return f"candidate {i}"


def is_finalist(activation: str) -> bool:
    """Whether a verdict row (its ``activation`` name) is a finalist, not a baseline."""
    return activation.startswith("candidate ")


@dataclass(frozen=True)
class Entry:
    """One row of a verdict: a finalist or a baseline on one dataset, and its final runs."""

    dataset: str  # display label
    activation: str  # "ReLU", ..., "Specialist", "candidate 1", ...
    formula: str  # the activation's text: a formula, "prelu", "param:relu"
    learnable: bool
    val_score: float
    n_classes: int
    final_specs: tuple[RunSpec, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """What the verdict's table needs, without the specs: the runs by seed and key."""
        return {
            "dataset": self.dataset,
            "activation": self.activation,
            "formula": self.formula,
            "learnable": self.learnable,
            "val_score": finite_or_none(self.val_score),
            "n_classes": self.n_classes,
            "finals": [[s.seed, s.key()] for s in self.final_specs],
        }


def ranked(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Trained candidates by search fitness, best first, leaving out those whose values are
    a baseline's (a rediscovered ReLU is a baseline, not a finding; so is the first
    generation's PReLU, a learnable candidate with the values of a learnable baseline) and
    the Specialist."""
    plain = {screen(parse_formula(a)).fingerprint for _, a in BASELINES if is_plain_formula(a)}
    learned = {
        screen(parse_formula(named.formula)).fingerprint
        for named in (named_activation(a) for _, a in BASELINES)
        if named is not None and named.learnable
    }
    order = sorted(
        (c for c in candidates if c.status == "trained" and not math.isnan(c.fitness)),
        key=lambda c: (-c.fitness, c.index),
    )
    return [
        c
        for c in order
        if c.fingerprint not in plain
        and not (c.learnable and c.fingerprint in learned)
        and c.origin != "specialist"
    ]


def is_plain_formula(activation: str) -> bool:
    """Whether a baseline's activation is a formula as candidates are (no name, no
    ``param:``): only those have a candidate's fingerprint."""
    return not split_parametric(activation)[0] and named_activation(activation) is None


def validation_scores(
    search: Search, formulas: Sequence[tuple[Formula | str, bool]], data: DataSpec, stage: str
) -> list[float]:
    """Score at the stage (:func:`stage_score`) of each (activation, learnable), all trained
    in one grid (what is stored is not trained again)."""
    groups = [search.run_specs(f, stage=stage, data=data, learnable=lc) for f, lc in formulas]
    search.train([spec for g in groups for spec in g])
    results = search.store.stored_runs(spec.key() for g in groups for spec in g)
    n_classes = search.cache.n_classes(data)
    return [stage_score([results.get(spec.key()) for spec in g], n_classes)[1] for g in groups]


#: Two candidates whose values on N(0, 1) inputs correlate above this are one shape, up to
#: scale and shift (which BatchNorm and the next layer absorb).
SAME_SHAPE = 0.99


def diverse(order: Sequence[Candidate], n: int) -> list[Candidate]:
    """The first ``n`` of ``order`` that differ in shape from every one before them.

    An evolved population converges: its ten best are often one shape with small changes
    (x + sin x, x + sin x + 0.01). Re-scoring ten copies of one shape tests one idea; ten
    shapes test ten.
    """
    chosen: list[Candidate] = []
    shapes = np.empty((0, FINGERPRINT_POINTS.size))
    for c in order:
        if len(chosen) == n:
            break
        with np.errstate(all="ignore"):
            y = np.asarray(c.formula.to_numpy(features=False)(FINGERPRINT_POINTS), dtype=float)
        y = np.broadcast_to(y, FINGERPRINT_POINTS.shape).ravel()
        z = (y - y.mean()) / (y.std() or 1.0)
        if shapes.size and np.max(np.abs(shapes @ z)) / z.size > SAME_SHAPE:
            continue
        chosen.append(c)
        shapes = np.vstack([shapes, z])
    return chosen


def baseline_activations(specialist: Formula | None) -> list[tuple[str, str]]:
    """(label, activation text) of each baseline on a dataset: :data:`BASELINES` and its
    Specialist, if it has one. The text is what ``Search.run_specs`` builds the network
    from, so a name carries its flags (``prelu`` learns its slope, ``param:`` is per neuron)."""
    rows = [(label, str(parse_formula(a)) if is_plain_formula(a) else a) for label, a in BASELINES]
    if specialist is not None:
        rows.append((SPECIALIST, str(specialist)))
    return rows


def plan_verdict(
    search: Search,
    chosen: Sequence[tuple[Candidate, float]],
    data: DataSpec,
    label: str,
    specialist: Formula | None,
    *,
    searched_here: bool,
) -> list[Entry]:
    """The verdict's rows on one dataset, each with its validation score at the verdict's
    training length and its final runs. ``searched_here``: the finalists' scores in
    ``chosen`` are this dataset's (else they are measured here)."""
    lc = search.settings.learnable_constants
    n = search.cache.n_classes(data)
    base = [(name, a, lc and name == SPECIALIST) for name, a in baseline_activations(specialist)]
    finals = [
        (finalist_label(i), str(c.formula), search.learns(c))
        for i, (c, _) in enumerate(chosen, start=1)
    ]
    known = [v for _, v in chosen] if searched_here else None
    todo = base + (finals if known is None else [])
    scores = validation_scores(search, [(f, learn) for _, f, learn in todo], data, "select")
    scores += known or []
    entries = []
    for (name, activation, learnable), val in zip(base + finals, scores, strict=True):
        specs = search.run_specs(activation, stage="final", data=data, learnable=learnable)
        # the network's own flag: prelu learns its slope whatever the search's setting
        learned = specs[0].model.learnable_constants if specs else learnable
        entries.append(Entry(label, name, activation, learned, val, n, tuple(specs)))
    return entries


def judge(entries: Sequence[dict[str, Any]], results: dict[str, dict]) -> list[dict[str, Any]]:
    """``search_results.csv`` rows of one dataset from ``Entry.to_dict`` records and the
    stored results of their final runs (see the module docstring)."""

    def val(e: dict[str, Any]) -> float:
        return none_as_nan(e["val_score"])

    baselines = [e for e in entries if not is_finalist(e["activation"])]
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
            "n_failed": len(finals) - len(ok),
            "best_baseline": best["activation"] if best else "",
            "diff_vs_best_baseline": math.nan,
            "ci_low": math.nan,
            "ci_high": math.nan,
            "p_value": math.nan,
            "p_holm": math.nan,
            "offered": _offered(e, best),
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
        if is_finalist(e["activation"]):
            p_values.append((len(rows) - 1, row["p_value"]))
    adjusted = holm([p for _, p in p_values])  # NaN (untestable) entries stay NaN
    for (i, _), p in zip(p_values, adjusted, strict=True):
        rows[i]["p_holm"] = float(p)
    return rows


def _offered(e: dict[str, Any], best: dict[str, Any] | None) -> bool:
    """A finalist is offered as better only where it beat the best baseline on the rows it
    was chosen on (the selection rows, at the verdict's training length)."""
    if not is_finalist(e["activation"]):
        return False
    mine = none_as_nan(e["val_score"])
    return best is None or (not math.isnan(mine) and mine > none_as_nan(best["val_score"]))


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


def conclusions(rows: Sequence[dict[str, Any]], n_classes: Mapping[str, int]) -> list[str]:
    """:func:`conclusion` for every dataset of ``rows`` (in their order), each in its
    metric (``n_classes``: dataset label -> classes)."""
    return [
        conclusion(rows, label, selection_metric(n_classes[label])[1])
        for label in dict.fromkeys(r["dataset"] for r in rows)
    ]


def conclusion(rows: Sequence[dict[str, Any]], dataset: str, metric: str) -> str:
    """The verdict on one dataset in one sentence: which finalists are better, worse or
    not decidable against the best baseline by validation, at Holm's 0.05; a finalist that
    did not beat that baseline on the selection rows is not offered as better, and where
    none did, the sentence says the search found nothing better than it."""
    mine = [r for r in rows if r["dataset"] == dataset]
    finals = [r for r in mine if is_finalist(r["activation"])]
    if not finals:
        return f"{dataset}: no candidate reached the verdict."
    best = finals[0]["best_baseline"]
    parts = []
    for r in finals:
        d, lo, hi, p = (r[k] for k in ("diff_vs_best_baseline", "ci_low", "ci_high", "p_holm"))
        if any(isinstance(v, float) and math.isnan(v) for v in (d, lo, hi, p)):
            verdict = "not decidable (no spread or too few seeds)"
        elif p < 0.05 and lo > 0 and not r.get("offered", True):
            verdict = "ahead on test but not offered (it did not beat it on the selection rows)"
        elif p < 0.05 and lo > 0:
            verdict = "better"
        elif p < 0.05 and hi < 0:
            verdict = "worse"
        else:
            verdict = "not decidable with these seeds"
        parts.append(
            f"{r['activation']} ({r['formula']}) {verdict}: {d:+.4f} {metric} "
            f"[{lo:+.4f}, {hi:+.4f}], Holm p = {p:.2g}"
        )
    best_val = next((r["val_score"] for r in mine if r["activation"] == best), math.nan)
    top_val = max(r["val_score"] for r in finals)
    selection = (
        f" The search found nothing better than {best}: on the selection rows, at the "
        f"verdict's training length, no finalist beat it ({top_val:.4f} against "
        f"{best_val:.4f})."
        if not any(r.get("offered", True) for r in finals)
        else ""
    )
    return (
        f"{dataset}, against the best baseline by validation ({best}), on test with "
        f"{finals[0]['n_seeds']} fresh seeds: " + "; ".join(parts) + "." + selection
    )
