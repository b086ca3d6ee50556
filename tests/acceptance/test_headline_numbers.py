"""The README's headline numbers, reproduced on the full dataset copies (marker ``full_data``).

The other tests check that each part computes what it says; these check that the whole
pipeline still produces the numbers the README reports, so a change that makes training
worse (a learning rate, a BatchNorm constant, a broken optimizer step) fails here even when
every unit test passes. One paper suite with 10 seeds (``paper_suite``, shared by the table
and the claims) and one small search on Forest Cover; about 4 minutes on 2 idle cores.

Run with ``python -m pytest -m full_data`` (``.ci/run`` does); the copies come from
``$SYMACT_TEST_DATA_DIR`` or ``$SYMACT_SHARED_DATA`` / ``../shared/data`` (tests/conftest.py).
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from symact.cli import main

pytestmark = [pytest.mark.full_data, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]

#: the suite's seeds: 42..51; the README's table is seeds 42, 43, 44 (the protocol's 3)
N_SEEDS = 10
README_SEEDS = 3

#: the smallest tolerance on a mean: the README rounds to 0.001, and its table agrees with
#: the reference implementation within 0.003; anything tighter tests rounding
TOLERANCE_FLOOR = 0.004


@dataclass(frozen=True)
class Row:
    """One row of an efficiency table: mean ± std of accuracy and AUC, and the size."""

    acc: float
    acc_std: float
    auc: float
    auc_std: float
    params: int


def _mean_std(cell: str) -> tuple[float, float]:
    mean, std = cell.split("±")
    return float(mean), float(std)


def readme_table() -> dict[tuple[str, str, str], Row]:
    """The ``final_efficiency_results.csv`` table under the README's "Results" heading."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Results") :]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and "±" in cells[3]:
            (acc, acc_std), (auc, auc_std) = _mean_std(cells[3]), _mean_std(cells[4])
            rows[tuple(cells[:3])] = Row(acc, acc_std, auc, auc_std, int(cells[5]))
        elif rows:
            break  # the table ended
    assert len(rows) == 17, "the README's Results table has 17 rows (3 datasets)"
    return rows


def csv_table(path: Path) -> dict[tuple[str, str, str], Row]:
    """The same table as the suite wrote it."""
    rows = {}
    with path.open(newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            (acc, acc_std), (auc, auc_std) = _mean_std(r["Acc"]), _mean_std(r["AUC"])
            key = (r["Dataset"], r["Architecture"], r["Activation"])
            rows[key] = Row(acc, acc_std, auc, auc_std, int(r["Params"]))
    return rows


def tolerance(std_over_seeds: float) -> float:
    """How far the README's 3-seed mean may lie from this run's 10-seed mean.

    Seeds 42-44 are among the 10, so the difference of the two means has standard deviation
    ``s * sqrt(1/3 - 1/10)`` for a seed spread ``s``; three of those, floored at
    :data:`TOLERANCE_FLOOR`.
    """
    spread = 3.0 * std_over_seeds * math.sqrt(1 / README_SEEDS - 1 / N_SEEDS)
    return max(TOLERANCE_FLOOR, spread)


@pytest.fixture(scope="session")
def paper_suite(full_canonical_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ``symact benchmark --suite paper`` with 10 seeds on the full copies: its ``--out``."""
    out = tmp_path_factory.mktemp("paper_suite") / "results"
    argv = ["benchmark", "--suite", "paper", "--n-seeds", str(N_SEEDS)]
    assert main([*argv, "--data-dir", str(full_canonical_data_dir), "--out", str(out)]) == 0
    return out


def test_paper_table_matches_the_readme(paper_suite: Path) -> None:
    """Every row of the README's table, within :func:`tolerance` of the 10-seed run.

    Same rows and sizes exactly; mean accuracy and mean AUC each within 3 standard
    deviations of a 3-seed mean's distance from the 10-seed mean (the seed spread ``s`` is
    this run's std over its 10 seeds; floor 0.004): e.g. 0.004 on Forest Cover (s ~ 0.002),
    0.016 on HIGGS' light models (s ~ 0.011). The std columns (population std over seeds)
    are a check on the seeds themselves: the 10-seed one within a factor 4 of the README's
    3-seed one, or both under 0.005.
    """
    expected, got = readme_table(), csv_table(paper_suite / "final_efficiency_results.csv")
    assert set(got) == set(expected)
    far = []
    for key, row in expected.items():
        run = got[key]
        assert run.params == row.params, key
        for metric in ("acc", "auc"):
            mean, std = getattr(run, metric), getattr(run, f"{metric}_std")
            allowed = tolerance(std)
            if abs(mean - getattr(row, metric)) > allowed:
                far.append(f"{key} {metric}: {mean:.3f} here, {getattr(row, metric):.3f} in README")
            readme_std = getattr(row, f"{metric}_std")
            if max(std, readme_std) >= 0.005:
                assert readme_std / 4 <= std <= 4 * readme_std, (key, metric, std, readme_std)
    assert far == [], "\n".join(far)


def claims(out: Path) -> dict[str, tuple[str, str]]:
    """claims.csv: the claim's letter -> (its numbers, its verdict)."""
    with (out / "claims.csv").open(newline="", encoding="utf-8") as f:
        return {r["claim"][:3]: (r["numbers"], r["verdict"]) for r in csv.DictReader(f)}


def test_claims_b_c_d_hold_and_a_does_not(paper_suite: Path) -> None:
    """The claims audit with 10 seeds says what the README says.

    (a) does not hold (every light model is below Heavy ReLU); (b) HIGGS's formula beats
    Light ReLU, GELU and SiLU on Forest Cover; (c) Spambase's Specialist is its best light
    model; (d) HIGGS's formula is worse than Light ReLU on Spambase. Each of (b)-(d) on every
    comparison with all 10 seeds and the formula marked as supporting the claim. The README
    states (b) and (c) for both formulas of ``--discovery-seeds 2``; this suite has one
    discovery (the paper's), whose formulas are the README's first ones. The README's effect
    sizes (:data:`README_CLAIM_DIFFS`) must lie inside this run's 95% t-intervals over the
    10 seeds: a verdict that holds with a different size is a different result.
    """
    audit = claims(paper_suite)
    assert audit["(a)"][1] == "does not hold"
    for claim in ("(b)", "(c)", "(d)"):
        numbers, verdict = audit[claim]
        assert verdict == "holds", f"{claim}: {verdict}\n{numbers}"
        assert "[supports]" in numbers and "[against]" not in numbers, numbers
        counts = re.findall(r"n=(\d+)\)", numbers)
        assert counts and set(counts) == {str(N_SEEDS)}, numbers
    assert "sub(cos(x), cos(cos(x)))" in audit["(b)"][0]  # the README's HIGGS formula
    for claim, rival, readme_diff in README_CLAIM_DIFFS:
        low, high = claim_interval(audit[claim][0], rival)
        assert low <= readme_diff <= high, f"{claim} vs {rival}: README {readme_diff:+}"


#: the README's effect sizes (its "The verdict" section, first formula of each dataset):
#: claim, rival, mean test AUC difference over 10 seeds
README_CLAIM_DIFFS = [
    ("(b)", "Light ReLU", 0.011),
    ("(c)", "Light GELU", 0.0054),
    ("(d)", "Light ReLU", -0.062),
]


def claim_interval(numbers: str, rival: str) -> tuple[float, float]:
    """The 95% interval of the first comparison against ``rival`` in a claim's numbers."""
    found = re.search(rf"vs {rival} [+-][\d.]+ \[([+-][\d.]+), ([+-][\d.]+)\]", numbers)
    assert found, f"no comparison with {rival} in: {numbers}"
    return float(found.group(1)), float(found.group(2))


#: the search: Forest Cover's default 20,000 rows, 64 candidates, the 8 best reranked at 15
#: epochs, 2 finalists judged on test with 10 seeds against ReLU, GELU and SiLU
SEARCH = ["--budget", "64", "--rerank", "8", "--top", "2", "--no-specialist-baseline"]
#: Light ReLU's mean test AUC in that search's verdict, trained to convergence (the
#: search's default since #22; 10 seeds), measured when this test was last written; at the
#: paper's 15 epochs it was 0.8614
SEARCH_RELU_AUC = 0.8987
#: a 10-seed mean's sampling error is well under this (0.0012 per seed at 15 epochs)
SEARCH_RELU_TOLERANCE = 0.005


def test_a_search_on_forest_cover_beats_the_best_baseline(
    full_canonical_data_dir: Path, tmp_path: Path
) -> None:
    """``symact search`` on Forest Cover finds a formula significantly better than the best
    baseline, all trained to convergence.

    The README's default search beats PReLU by +0.0162 AUC with 1,000 candidates; 64
    suffice for "better" (candidate 1 sin(x), +0.0139 [+0.0101, +0.0177] against PReLU when
    written). Asserted: the best baseline is the one with the best validation score, ReLU's
    test AUC is where it was (:data:`SEARCH_RELU_AUC` ± :data:`SEARCH_RELU_TOLERANCE`), and
    candidate 1 (the best by validation) is better on test than that baseline: the 95%
    interval above 0 and Holm p < 0.05, with 10 seeds.
    """
    out = tmp_path / "search"
    argv = ["search", "--dataset", "covertype", "--data-dir", str(full_canonical_data_dir)]
    assert main([*argv, *SEARCH, "--out", str(out)]) == 0
    with (out / "search_results.csv").open(newline="", encoding="utf-8") as f:
        rows = {r["activation"]: r for r in csv.DictReader(f)}
    relu, best = rows["ReLU"], rows["candidate 1"]
    baselines = [r for name, r in rows.items() if not name.startswith("candidate")]
    by_validation = max(baselines, key=lambda r: float(r["val_score"]))["activation"]
    assert {r["best_baseline"] for r in rows.values()} == {by_validation}
    assert abs(float(relu["test_auc_mean"]) - SEARCH_RELU_AUC) <= SEARCH_RELU_TOLERANCE
    assert int(best["n_seeds"]) == N_SEEDS
    assert float(best["ci_low"]) > 0 and float(best["p_holm"]) < 0.05, best
