"""The report a reader looks at, in real headless Chromium at 1280 px: a benchmark on the
user's own files (the development suite's 17 tables, tabular_3seeds fixture) opens with its
verdict, shows no paper claims, and its verdict columns fit without sideways scrolling; a
run on the paper's datasets shows the claims audit.

Chromium must be installed (`apt-get install -y chromium`); without it these tests fail
with that instruction, they never skip.
"""

from __future__ import annotations

import pytest
from page_check import MIN_COLOURS, Chromium
from report_fixtures import load_formulas, load_runs

from symact.report import build_review, write_review

pytestmark = [pytest.mark.slow, pytest.mark.browser]

WIDTH = 1280
HEADINGS = "Array.from(document.querySelectorAll('h2')).map(h => h.textContent)"

# right edge of a table's header cell, and whether the table scrolls sideways
COLUMN_EDGE = """(() => {{
  const table = document.getElementById({table!r});
  const th = Array.from(table.tHead.rows[0].cells).find(c => c.textContent === {name!r});
  return [th.getBoundingClientRect().right, table.parentElement.scrollWidth,
          table.parentElement.clientWidth];
}})()"""


@pytest.fixture(scope="module")
def browser():
    with Chromium(width=WIDTH, height=1500) as chromium:
        yield chromium


@pytest.fixture(scope="module")
def user_files_page(tmp_path_factory):
    out = tmp_path_factory.mktemp("user-files")
    review = build_review(load_runs("tabular_3seeds"))
    return write_review(
        review, out, title="symact benchmark: tabular suite", run_settings={"epochs": 3}
    )


def test_a_user_files_report_opens_with_its_verdict(browser, user_files_page):
    check = browser.check(user_files_page["report"])
    assert check.problems == []
    assert check.screenshot_colours >= MIN_COLOURS
    # CD diagram, one forest plot per configuration (GELU, SiLU, the formula), Pareto view
    assert check.images == 5
    headings = browser.evaluate(
        "Array.from(document.querySelectorAll('h2')).map(h => h.textContent)"
    )
    assert headings[0] == "Did my activations beat ReLU?"
    assert headings[1] == "Verdict table"
    assert "Claims audit" not in headings
    assert headings[-2:] == ["Settings", "Data and versions"]  # last, and folded
    assert browser.evaluate("document.querySelector('#settings details').open") is False
    sentences = browser.evaluate(
        "Array.from(document.querySelectorAll('ul.verdict li')).map(li => li.textContent)"
    )
    assert [s.split(" on AUC")[0] for s in sentences] == [
        "Light GELU",
        "Light SiLU",
        "Light mul(x, tanh(log(add(1.0, exp(x)))))",
    ]
    for table, column in (("table-statistics", "significant"), ("table-suite", "by rank")):
        right, scroll, client = browser.evaluate(COLUMN_EDGE.format(table=table, name=column))
        assert right <= WIDTH and scroll <= client, (table, right, scroll, client)
    # every metric column is labelled
    help_text = browser.evaluate(
        "document.querySelector('#table-statistics th[title]').getAttribute('title')"
    )
    assert "mean over paired seeds" in help_text


def test_a_paper_run_shows_the_claims(browser, tmp_path):
    review = build_review(load_runs("paper_10seeds"), load_formulas("paper_10seeds"))
    paths = write_review(review, tmp_path, title="paper")
    check = browser.check(paths["report"])
    assert check.problems == []
    headings = browser.evaluate(
        "Array.from(document.querySelectorAll('h2')).map(h => h.textContent)"
    )
    assert headings[:3] == ["Verdict across datasets", "Verdict table", "Claims audit"]
