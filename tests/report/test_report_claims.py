"""The claims audit on real runs: verdicts with 10 seeds, none with the paper's 3, edge cases."""

from __future__ import annotations

import math

import pytest

from symact.report import (
    CLAIMS_COLUMNS,
    VERDICTS,
    Comparison,
    FormulaConfiguration,
    PairedTest,
    StatisticsSettings,
    audit_claims,
    judge,
    more_seeds_note,
    statistics_table,
)


def verdicts(audit) -> list[str]:
    return list(audit.table["verdict"])


def test_paper_run_with_ten_seeds_decides(paper_runs, paper_formulas):
    audit = audit_claims(paper_runs, paper_formulas)
    assert list(audit.table.columns) == list(CLAIMS_COLUMNS)
    assert verdicts(audit) == ["does not hold", "holds", "holds", "holds"]
    a, b, c, d = audit.table["numbers"]
    # (a): beside the gains, what the parameter ratio alone gives, and that AUC is lower
    assert "log10(26601)/log10(4161) - 1 = +22.3%" in a
    assert "HIGGS: gain" in a and "AUC significantly below Heavy ReLU: 3 of 3" in a
    # (b)-(d) are judged across the three discoveries, k of N
    assert b.startswith("3 of 3 HIGGS formulas beat all three, Holm-significant")
    assert c.startswith("3 of 3 Specialists beat every other light model")
    assert d.startswith("3 of 3 HIGGS formulas are worse than Light ReLU")
    assert "sub(sin(sin(cos(x))), 0.325)" in b  # each formula named with its numbers
    assert "n=10 seeds, 9 comparisons: smallest Wilcoxon p 2/2^10 = 0.00195" in b


def test_the_papers_three_seeds_decide_nothing(paper_runs, paper_formulas):
    three = [r for r in paper_runs if r.seed in (42, 43, 44)]
    audit = audit_claims(three, paper_formulas)
    assert verdicts(audit) == ["not decidable with these seeds"] * 4
    assert "2/2^3 = 0.25" in audit.table["numbers"][1]
    assert "at least 9 seeds needed" in audit.table["numbers"][1]  # 9 comparisons
    assert "2/2^3 = 0.25" in audit.more_seeds and "out of reach" in audit.more_seeds
    assert "the fewest seeds that can reach it is 6" in audit.more_seeds


def test_a_transfer_that_loses_makes_claim_b_fail(paper_runs, paper_formulas):
    # FOREST_COVER's own seed-42 formula is worse than Light ReLU there (-0.040 AUC, 10 seeds);
    # declared as if it came from HIGGS, claim (b) must not hold, whatever the others do.
    impostor = FormulaConfiguration(
        "FOREST_COVER",
        "HIGGS",
        "Light Hybrid (Specialist, discovery seed 42)",
        "add(mul(x, add(x, x)), x)",
        42,
    )
    formulas = [
        f for f in paper_formulas if not (f.dataset == "FOREST_COVER" and f.model == impostor.model)
    ]
    audit = audit_claims(paper_runs, [*formulas, impostor])
    row = audit.table.iloc[1]
    assert row["verdict"] == "does not hold"
    assert row["numbers"].startswith("3 of 4 HIGGS formulas beat all three")
    assert "1 of 4 significantly against" in row["numbers"]


def test_missing_datasets_and_configurations(builtin_runs, builtin_formulas, paper_runs):
    audit = audit_claims(builtin_runs, builtin_formulas)
    assert verdicts(audit) == [
        "not decidable with these seeds",  # (a) on any dataset: 5 seeds cannot decide it
        "not tested (dataset not in this run)",
        "not tested (dataset not in this run)",
        "not tested (dataset not in this run)",
    ]
    assert "at least 8 seeds needed" in audit.table["numbers"][0]  # 4 comparisons
    # the paper's datasets present but no formula configuration declared
    audit = audit_claims(paper_runs, [])
    assert set(verdicts(audit)) == {"not tested (configuration not in this run)"}
    assert all(v in VERDICTS for v in verdicts(audit))


def _comparison(formula, mean, lo, hi, p_t, n=10, direction=+1):
    test = PairedTest(n, mean, lo, hi, lo, hi, p_t, 2 / 2**n)
    return Comparison("D", formula, "Light ReLU", formula, direction, test)


def test_decision_rule():
    settings = StatisticsSettings()
    win = _comparison("f1", 0.01, 0.005, 0.015, 1e-4)
    loss = _comparison("f2", -0.01, -0.015, -0.005, 1e-4)
    tie = _comparison("f3", 0.001, -0.002, 0.004, 0.4)
    assert judge([win], settings).verdict == "holds"
    assert judge([win, loss], settings).verdict == "does not hold"  # any formula against
    assert judge([win, tie], settings).verdict == "not decidable with these seeds"
    worse_predicted = _comparison("f2", -0.01, -0.015, -0.005, 1e-4, direction=-1)
    assert judge([worse_predicted], settings).verdict == "holds"
    # Holm: 1e-4 x 2 comparisons stays significant, 0.03 x 2 does not
    borderline = _comparison("f4", 0.01, 0.001, 0.019, 0.03)
    j = judge([win, borderline], settings)
    assert j.p_holm == pytest.approx((2e-4, 0.03)) and j.verdict == "holds"
    j = judge([borderline, _comparison("f5", 0.01, 0.001, 0.019, 0.028)], settings)
    assert j.p_holm == pytest.approx((0.056, 0.056))
    assert j.verdict == "not decidable with these seeds"
    # five seeds: even a huge effect cannot be decided (Wilcoxon's best p is 0.0625)
    five = _comparison("f1", 0.05, 0.04, 0.06, 1e-6, n=5)
    j = judge([five], settings)
    assert not j.decidable and j.verdict == "not decidable with these seeds"
    # a bootstrap interval straddling 0 leaves it undecided even if t is significant
    odd = Comparison(
        "D", "f", "B", "f", +1, PairedTest(10, 0.01, 0.001, 0.02, -0.001, 0.02, 0.01, 0.01)
    )
    assert judge([odd], settings).verdict == "not decidable with these seeds"


def test_more_seeds_note(builtin_runs):
    note = more_seeds_note(statistics_table(builtin_runs))
    assert note.startswith("With n = 5 paired seeds the smallest two-sided Wilcoxon p is 2/2^5")
    assert "10 seeds would narrow it" in note
    half_now = float(note.split("now about ±")[1].split(" ")[0])
    half_later = float(note.split("narrow it to about ±")[1].rstrip("."))
    # t(0.975, 4)/sqrt(5) = 1.242 vs t(0.975, 9)/sqrt(10) = 0.715 with the same spread
    assert half_later == pytest.approx(half_now * 0.7154 / 1.2417, rel=0.15)
    assert not math.isnan(half_now)
