"""search_report.html a reader looks at: the verdict sentence and a forest plot of the
finalists first, a verdict table with accuracy beside AUC and the held-out set's
majority-class rate, the details folded; checked on a real search of real spambase rows and,
at 1280 px, in headless Chromium."""

from __future__ import annotations

import csv
import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from search_args import SMALL
from sklearn.model_selection import train_test_split

from symact.cli import main
from symact.experiments.store import ResultsStore
from symact.report.suite_plots import difference_forest_figure
from symact.search.outputs import (
    SEARCH_DOCUMENT,
    against_relu,
    forest_rows,
    majority_rate,
    write_search_outputs,
)

ROWS = 2500  # the slice's first rows: 1,584 of them spam, an imbalanced set


def _mail_csv(shared_data: Path, path: Path) -> tuple[Path, list[str]]:
    """The first ROWS real spambase rows as a user's CSV with yes/no labels; and the labels."""
    lines = (shared_data / "spambase.data").read_text().splitlines()[:ROWS]
    rows = [line.split(",") for line in lines]
    labels = ["yes" if float(r[-1]) else "no" for r in rows]
    header = [f"f{i}" for i in range(len(rows[0]) - 1)] + ["spam"]
    body = [",".join([*r[:-1], t]) for r, t in zip(rows, labels, strict=True)]
    path.write_text("\n".join([",".join(header), *body]) + "\n")
    return path, labels


@pytest.fixture(scope="module")
def searched(shared_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("search-report")
    data, labels = _mail_csv(shared_data, folder / "mail.csv")
    out = folder / "out"
    argv = ["search", "--dataset", str(data), "--target", "spam", "--positive", "yes"]
    assert main([*argv, "--out", str(out), *SMALL]) == 0
    return out, labels


class _Page(HTMLParser):
    """The page's section ids, headings, images and <details> nesting, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, str, int]] = []  # (tag, id/alt/text, details depth)
        self.depth = 0
        self._heading = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "details":
            self.depth += 1
        elif tag == "section":
            self.events.append(("section", a.get("id", ""), self.depth))
        elif tag == "img":
            self.events.append(("img", a.get("alt", ""), self.depth))
        elif tag == "table":
            self.events.append(("table", a.get("id", ""), self.depth))
        elif tag == "dl":
            self.events.append(("dl", a.get("class", ""), self.depth))
        self._heading = tag == "h2"

    def handle_endtag(self, tag):
        if tag == "details":
            self.depth -= 1
        self._heading = False

    def handle_data(self, data):
        if self._heading:
            self.events.append(("h2", data, self.depth))


def _page(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _results(out: Path) -> list[dict[str, str]]:
    with open(out / "search_results.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_the_report_opens_with_the_verdict_and_folds_the_details(searched):
    out, _ = searched
    events = _page(out / "search_report.html").events
    sections = [name for kind, name, _ in events if kind == "section"]
    assert sections[:2] == ["verdict", "verdict-table"]
    assert sections[-2:] == ["settings", "provenance"]
    first_image = next(e for e in events if e[0] == "img")
    assert first_image == ("img", "Finalists against the baselines on MAIL", 0)
    # the compact verdict table is open; the full columns and the candidates are folded
    depth = {name: d for kind, name, d in events if kind == "table"}
    assert depth == {
        "table-verdict-table": 0,
        "table-rungs": 0,
        "table-results": 1,
        "table-candidates": 1,
        "table-provenance": 1,
    }
    assert all(d == 1 for kind, _, d in events if kind == "dl")  # settings and versions
    assert ("img", "Search progress", 1) in events
    html = (out / "search_report.html").read_text(encoding="utf-8")
    verdict = html[html.index('<section id="verdict">') : html.index("</section>")]
    sentence = re.search(r"<li>(MAIL, against the best baseline by validation .*?)</li>", verdict)
    assert sentence, verdict[:500]
    # each finalist: better / worse / not decidable, its difference and 95% interval
    for row in (r for r in _results(out) if r["activation"].startswith("candidate")):
        d, lo, hi = (float(row[k]) for k in ("diff_vs_best_baseline", "ci_low", "ci_high"))
        assert f"{row['activation']} ({row['formula']})" in sentence.group(1)
        assert f"{d:+.4f} AUC [{lo:+.4f}, {hi:+.4f}]" in sentence.group(1)


def test_the_verdict_table_shows_accuracy_beside_auc_and_the_majority_class(searched):
    out, _ = searched
    html = (out / "search_report.html").read_text(encoding="utf-8")
    table = html[html.index('id="table-verdict-table"') :]
    table = table[: table.index("</table>")]
    headers = re.findall(r"<th scope=\"col\"[^>]*>([^<]*)</th>", table)
    assert headers == [
        "dataset",
        "activation",
        "formula",
        "difference [95% CI]",
        "p_holm",
        "significant",
        "AUC",
        "Acc",
        "majority class",
    ]
    majority = json.loads((out / "search.json").read_text())["majority"]["MAIL"]
    cells = [re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in table.split("<tr>")[2:]]
    by_activation = {c[1]: c for c in cells}
    for row in _results(out):
        mine = by_activation[row["activation"]]
        acc, auc = float(row["test_acc_mean"]), float(row["test_auc_mean"])
        assert mine[6].startswith(f"{auc:.4f}\u00a0±\u00a0")
        assert mine[7].startswith(f"{acc:.4f}\u00a0±\u00a0")
        assert mine[7].endswith(", below") == (acc < majority)
        assert mine[8] == f"{majority:.4f}"
        if row["activation"].startswith("candidate"):
            p = float(row["p_holm"])
            assert mine[4] == f"{p:.3g}" and mine[5] == ("yes" if p < 0.05 else "no")
    below = [r for r in _results(out) if r["activation"].startswith("candidate")]
    below = [r for r in below if float(r["test_acc_mean"]) < majority]
    said = "test accuracy below the majority-class rate of the held-out set" in html
    assert said == bool(below)


def test_the_majority_class_rate_is_the_held_out_labels(searched):
    out, labels = searched
    assert majority_rate(np.array([0, 1, 1, 2])) == 0.5
    assert majority_rate(np.array([1, 1, 1])) == 1.0
    # the search's test part: train_test_split of the rows with --seed 0, test_size 0.2
    _, held_out = train_test_split(np.array(labels), test_size=0.2, random_state=0)
    spam = float(np.mean(held_out == "yes"))
    assert 0.55 < spam < 0.75  # imbalanced, spam the majority
    doc = json.loads((out / "search.json").read_text())
    assert doc["majority"] == {"MAIL": pytest.approx(max(spam, 1 - spam))}


def test_the_forest_plot_compares_each_finalist_with_the_best_baseline_and_relu(searched):
    out, _ = searched
    with ResultsStore(out / "symact.sqlite") as store:
        doc = store.get_document(SEARCH_DOCUMENT)
        relu = against_relu(doc["entries"], store)
    results = {r["activation"]: r for r in _results(out)}
    rows = forest_rows(pd.read_csv(out / "search_results.csv"), relu)
    best = results["candidate 1"]["best_baseline"]
    assert set(rows["baseline"]) == {f"best by validation ({best})", "ReLU"}
    for name in ("candidate 1", "candidate 2"):
        mine = rows[rows["model"].str.startswith(f"{name}: ")]
        assert len(mine) == 2
        vs_relu = mine[mine["baseline"] == "ReLU"].iloc[0]
        # all seeds finished: the mean paired difference is the difference of the means
        assert int(results[name]["n_seeds"]) == int(results["ReLU"]["n_seeds"]) == 4
        expected = float(results[name]["test_auc_mean"]) - float(results["ReLU"]["test_auc_mean"])
        assert vs_relu["mean_diff"] == pytest.approx(expected, abs=1e-12)
        assert vs_relu["ci_low"] < vs_relu["mean_diff"] < vs_relu["ci_high"]
        vs_best = mine[mine["baseline"] != "ReLU"].iloc[0]
        assert vs_best["mean_diff"] == pytest.approx(float(results[name]["diff_vs_best_baseline"]))
    figure = difference_forest_figure(rows, "model", "MAIL")
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert sorted(labels) == sorted(set(rows["model"]))
    assert any(label.startswith("Specialist: ") for label in labels)


def test_a_store_without_the_majority_rate_still_reports(searched, tmp_path):
    """Stores written before the rate was recorded: the column says n/a, nothing fails."""
    out, _ = searched
    copy = tmp_path / "symact.sqlite"
    copy.write_bytes((out / "symact.sqlite").read_bytes())
    with ResultsStore(copy) as store:
        doc = store.get_document(SEARCH_DOCUMENT)
        store.put_document(SEARCH_DOCUMENT, {**doc, "majority": {}})
        write_search_outputs(store, tmp_path)
    html = (tmp_path / "search_report.html").read_text(encoding="utf-8")
    assert '<section id="verdict">' in html and "below the majority-class rate" not in html
    table = html[html.index('id="table-verdict-table"') :]
    first_row = table[: table.index("</tr>", table.index("<tbody>"))]
    assert first_row.endswith('<td class="num none" data-sort="">n/a</td>')


@pytest.mark.slow
@pytest.mark.browser
def test_the_verdict_table_fits_1280_px(searched):
    sys.path.insert(0, str(Path(__file__).parents[1] / "report"))
    from page_check import MIN_COLOURS, Chromium

    out, _ = searched
    width = 1280
    with Chromium(width=width, height=1500) as browser:
        check = browser.check(out / "search_report.html")
        assert check.problems == [] and check.screenshot_colours >= MIN_COLOURS
        edges = browser.evaluate(
            """(() => {
              const table = document.getElementById('table-verdict-table');
              const right = name => Array.from(table.tHead.rows[0].cells)
                .find(c => c.textContent === name).getBoundingClientRect().right;
              return [right('p_holm'), right('significant'), right('majority class'),
                      table.parentElement.scrollWidth, table.parentElement.clientWidth,
                      document.documentElement.scrollWidth];
            })()"""
        )
        p_holm, significant, majority, scroll, client, page = edges
        assert max(p_holm, significant, majority) <= width, edges
        assert scroll <= client and page <= width, edges
        tops = browser.evaluate(
            "['verdict', 'verdict-table'].map(id => "
            "document.getElementById(id).getBoundingClientRect().top)"
        )
        assert tops[0] < tops[1] < 1500, tops  # the verdict, then its table, on the first screen
