"""The report.html that `symact benchmark` and `symact search` write, in real Chromium: the
pages a user opens, not only the renderer's test input."""

from __future__ import annotations

import pytest
from page_check import MIN_COLOURS, Chromium

from symact.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def browser():
    with Chromium() as chromium:
        yield chromium


def test_a_benchmarks_report_loads_clean(browser, tmp_path):
    out = tmp_path / "bench [v2]"  # user text in the path: shown literally, never markup
    argv = [
        "benchmark",
        "--suite",
        "builtin",
        "--out",
        str(out),
        "--epochs",
        "2",
        "--seeds",
        "42-44",
        "--population-size",
        "60",
        "--generations",
        "2",
    ]
    assert main(argv) == 0
    check = browser.check(out / "report.html")
    assert check.problems == []
    assert check.images >= 5  # transfer heatmap, activations, combined, accuracy vs params
    assert check.screenshot_colours >= MIN_COLOURS
    text = browser.evaluate("document.body.innerText")
    for heading in (
        "Did my activations beat ReLU?",
        "Verdict table",
        "Statistics",
        "Transfer matrix",
        "Efficiency table",
    ):
        assert heading in text
    # BREAST_CANCER and DIGITS are none of the paper's datasets: its claims are not shown
    assert "Claims audit" not in text
    # `symact report` rebuilds the same page from the folder
    before = (out / "report.html").read_text()
    (out / "report.html").unlink()
    assert main(["report", str(out)]) == 0
    assert (out / "report.html").read_text() == before


def test_a_searchs_report_loads_clean(browser, tmp_path):
    out = tmp_path / "search"
    argv = [
        "search",
        "--dataset",
        "breast_cancer",
        "--out",
        str(out),
        "--budget",
        "12",
        "--population",
        "8",
        "--tournament",
        "4",
        "--epochs",
        "2",
        "--final-seeds",
        "3",
        "--final-epochs",
        "2",
        "--rerank",
        "3",
        "--top",
        "2",
        "--no-specialist-baseline",
    ]
    assert main(argv) == 0
    check = browser.check(out / "search_report.html")
    assert check.problems == [] and check.images == 3  # + the forest plot
    assert "Verdict" in browser.evaluate("document.body.innerText")
