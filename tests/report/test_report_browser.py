"""report.html in real headless Chromium: loads clean, figures decode, not blank, sorts; and
the checker itself fails on pages that are broken in each way it looks for.

An opt-in group (marker ``browser``): ``python -m pytest -m browser`` runs it, the default
run leaves it out (tests/conftest.py). Chromium must be installed (`apt-get install -y
chromium`; .ci/run does it): without it these tests fail with that instruction, they never
skip.
"""

from __future__ import annotations

import pytest
from page_check import MIN_COLOURS, Chromium, find_chromium
from report_inputs import HOSTILE_FORMULA, HOSTILE_PATH

from symact.report import write_report

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def browser():
    with Chromium() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def report_page(report_data, tmp_path_factory):
    return write_report(report_data, tmp_path_factory.mktemp("report") / "report.html")


def test_chromium_is_installed():
    assert find_chromium()  # raises FileNotFoundError saying how to install it


def test_report_loads_clean_in_chromium(browser, report_page, report_data):
    check = browser.check(report_page)
    assert check.problems == []
    assert check.images == len(report_data.figures) == 3
    assert check.screenshot_colours >= MIN_COLOURS
    sizes = browser.evaluate(
        "Array.from(document.images).map(i => [i.naturalWidth, i.naturalHeight])"
    )
    assert all(w > 500 and h > 300 for w, h in sizes)


def test_user_text_shows_literally(browser, report_page):
    browser.check(report_page)
    text = browser.evaluate("document.getElementById('table-hostile').innerText")
    assert HOSTILE_FORMULA in text and HOSTILE_PATH in text
    assert browser.evaluate("document.scripts.length") == 1  # ours, nothing injected
    assert browser.evaluate("document.querySelectorAll('#hostile i, #hostile b').length") == 0
    assert browser.evaluate("document.title") == "symact builtin <b>run</b> & co"
    provenance = browser.evaluate("document.getElementById('table-provenance').innerText")
    assert HOSTILE_PATH in provenance


COLUMN = """(() => {{
  const table = document.getElementById('table-statistics');
  const col = Array.from(table.tHead.rows[0].cells).findIndex(th => th.textContent === {name!r});
  {action}
  return Array.from(table.tBodies[0].rows).map(r => r.cells[col].getAttribute('data-sort'));
}})()"""


def _column(browser, name: str, click: bool = False) -> list[float]:
    action = "table.tHead.rows[0].cells[col].click();" if click else ""
    raw = browser.evaluate(COLUMN.format(name=name, action=action))
    return [float(v) for v in raw]


def test_headers_sort_the_table(browser, report_page):
    browser.check(report_page)
    before = _column(browser, "mean_diff")
    assert before != sorted(before)  # the table starts in its reading order
    up = _column(browser, "mean_diff", click=True)
    assert up == sorted(before)
    down = _column(browser, "mean_diff", click=True)
    assert down == sorted(before, reverse=True)
    state = browser.evaluate(
        "Array.from(document.querySelectorAll('#table-statistics th'))"
        ".filter(th => th.getAttribute('aria-sort') !== 'none').map(th => th.textContent)"
    )
    assert state == ["mean_diff"]


# --- the checker can fail ---------------------------------------------------------------------

PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>t</title>{head}</head>
<body><h1>A heading</h1><p>{body}</p></body></html>"""

# A real, decodable 1x1 PNG, so the only fault in each page below is the one it names.
GOOD_PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8"
    "BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def _check(browser, tmp_path, body: str, head: str = ""):
    path = tmp_path / "page.html"
    path.write_text(PAGE.format(body=body, head=head), encoding="utf-8")
    return browser.check(path)


def test_checker_sees_an_image_that_does_not_decode(browser, tmp_path):
    check = _check(browser, tmp_path, '<img alt="bad" src="data:image/png;base64,iVBORw0KGgo=">')
    assert check.broken_images == ["<img alt='bad'>"] and check.problems


def test_checker_accepts_a_good_image(browser, tmp_path):
    check = _check(browser, tmp_path, f'<img alt="ok" src="{GOOD_PNG}">')
    assert check.images == 1 and check.broken_images == [] and check.console_errors == []


def test_checker_sees_a_script_error(browser, tmp_path):
    check = _check(browser, tmp_path, "<script>noSuchFunction();</script>")
    assert any("noSuchFunction is not defined" in e for e in check.console_errors)
    check = _check(browser, tmp_path, "<script>console.error('logged failure')</script>")
    assert any("logged failure" in e for e in check.console_errors)


def test_checker_sees_a_failed_request(browser, tmp_path):
    check = _check(browser, tmp_path, '<img alt="far" src="http://127.0.0.1:9/figure.png">')
    assert check.failed_requests and check.broken_images and check.problems


def test_checker_sees_a_csp_violation(browser, tmp_path):
    head = "<meta http-equiv='Content-Security-Policy' content=\"script-src 'none'\">"
    check = _check(browser, tmp_path, "<script>document.title = 'ran';</script>", head)
    assert any("Content Security Policy" in e for e in check.console_errors)
    assert browser.evaluate("document.title") == "t"  # the script did not run


def test_checker_sees_a_blank_page(browser, tmp_path):
    path = tmp_path / "blank.html"
    path.write_text("<!DOCTYPE html><html><body></body></html>", encoding="utf-8")
    check = browser.check(path)
    assert check.screenshot_colours < MIN_COLOURS
    assert any("blank" in p for p in check.problems)
