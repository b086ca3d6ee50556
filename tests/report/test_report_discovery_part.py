"""The claims audit and the report say which rows discovery sampled: the paper's all rows
(which overlap the test rows of later splits) or each split's training part."""

from __future__ import annotations

import pytest

from symact.report import audit_claims, build_review, write_review


def test_the_audit_discloses_the_papers_leak_by_default(paper_runs, paper_formulas):
    audit = audit_claims(paper_runs, paper_formulas)
    assert set(audit.table["discovery_rows"]) == {"all rows: overlaps each split's test rows"}
    assert "has seen rows that are later test rows" in audit.discovery
    assert "--discovery-part train" in audit.discovery


def test_the_audit_says_when_discovery_saw_training_parts_only(paper_runs, paper_formulas):
    audit = audit_claims(paper_runs, paper_formulas, discovery_part="train")
    assert set(audit.table["discovery_rows"]) == {"training part of each split"}
    assert "no formula has seen the test rows" in audit.discovery
    # the verdicts do not depend on the label
    assert list(audit.table["verdict"]) == list(
        audit_claims(paper_runs, paper_formulas).table["verdict"]
    )


def test_an_unknown_part_is_refused(paper_runs, paper_formulas):
    with pytest.raises(ValueError, match="discovery part must be one of"):
        audit_claims(paper_runs, paper_formulas, discovery_part="test")


@pytest.mark.parametrize(
    ("part", "said"),
    [("all", "has seen rows that are later test rows"), ("train", "no formula has seen")],
)
def test_the_report_says_it_beside_the_claims(tmp_path, paper_runs, paper_formulas, part, said):
    review = build_review(paper_runs, paper_formulas, discovery_part=part)
    paths = write_review(review, tmp_path)
    html = paths["report"].read_text()
    claims = html[html.index("Claims audit") :]
    assert said in claims[: claims.index("</table>") + 3000]
    rows = {"all": "all rows: overlaps each split's test rows", "train": "training part"}
    assert rows[part] in paths["claims"].read_text()
