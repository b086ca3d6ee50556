"""report.html without a browser: self-contained, escaped, fast, written atomically."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
from html.parser import HTMLParser

import pandas as pd
import pytest
from report_inputs import HOSTILE_FORMULA, HOSTILE_PATH

from symact.report import (
    CLAIMS_COLUMNS,
    RUNS_COLUMNS,
    STATISTICS_COLUMNS,
    TRANSFER_COLUMNS,
    ReportData,
    ReportFigure,
    build_review,
    render_report,
    write_report,
    write_review,
)
from symact.report.suite import SUITE_COLUMNS


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text inside <script> and <style>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline: dict[str, list[str]] = {"script": [], "style": []}
        self._open: str | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._open = tag if tag in self.inline else None

    def handle_endtag(self, tag):
        self._open = None

    def handle_data(self, data):
        if self._open:
            self.inline[self._open].append(data)


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


def test_render_is_fast_on_a_paper_sized_run(report_data):
    render_report(report_data)  # first call loads and compiles the template
    start = time.perf_counter()
    for _ in range(5):
        html = render_report(report_data)
    per_render = (time.perf_counter() - start) / 5
    assert per_render < 0.25, f"render took {per_render:.3f} s"  # measured ~0.01 s
    assert len(html) > 100_000  # three real figures inside


def test_page_is_self_contained(report_data):
    html = render_report(report_data)
    tags = parse(html)
    names = [t for t, _ in tags.tags]
    assert names.count("script") == 1 and names.count("style") == 1
    assert "link" not in names and "iframe" not in names and "object" not in names
    for tag, attrs in tags.tags:
        assert "style" not in attrs, f"inline style attribute on <{tag}> (the CSP forbids it)"
        if tag == "script":
            assert "src" not in attrs
        if tag == "img":
            assert attrs["src"].startswith("data:image/png;base64,")
            png = base64.b64decode(attrs["src"].split(",", 1)[1])
            assert png[:8] == b"\x89PNG\r\n\x1a\n"
        if tag == "a":
            assert attrs["href"].startswith("#")
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert names.count("img") == len(report_data.figures)


def test_csp_admits_exactly_our_style_and_script(report_data):
    html = render_report(report_data)
    tags = parse(html)
    csp = next(
        a["content"] for t, a in tags.tags if a.get("http-equiv") == "Content-Security-Policy"
    )
    for kind, directive in (("style", "style-src"), ("script", "script-src")):
        (text,) = tags.inline[kind]
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in csp
    assert "default-src 'none'" in csp and "img-src data:" in csp and "unsafe" not in csp


def test_user_text_is_escaped(report_data):
    html = render_report(report_data)
    assert HOSTILE_FORMULA not in html and "<i>odd</i>" not in html and "<b>run</b>" not in html
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in html
    assert "/data/[/]bold &amp; &lt;i&gt;odd&lt;/i&gt;/spam.csv" in html
    assert "symact builtin &lt;b&gt;run&lt;/b&gt; &amp; co" in html
    assert HOSTILE_PATH.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in html


def test_every_table_and_its_numbers_appear(report_data):
    html = render_report(report_data)
    for anchor in ("claims", "efficiency", "statistics", "transfer", "formulas", "runs"):
        assert f'id="{anchor}"' in html and f'id="table-{anchor}"' in html
    assert "not decidable with these seeds" in html and "Efficiency" in html
    assert 'data-sort="0.0625"' in html  # Wilcoxon's best p with 5 seeds, as a sort key
    assert "With n = 5 paired seeds" in html  # the what-more-seeds note
    assert "2026-12-01 17:06 UTC" in html and "2.13.0+cpu" in html


def test_write_report_is_atomic(tmp_path, report_data):
    path = write_report(report_data, tmp_path / "out" / "report.html")
    assert path.read_text(encoding="utf-8") == render_report(report_data)
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # readable as the umask says, not 0600
    broken = ReportData("broken", figures=[ReportFigure("not a png", b"GIF89a....")])
    with pytest.raises(ValueError, match="is not a PNG"):
        write_report(broken, path)
    assert path.read_text(encoding="utf-8") == render_report(report_data)  # old one intact
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]  # no temp file left


def test_write_review_writes_every_table(tmp_path, paper_runs, paper_formulas):
    review = build_review(paper_runs, paper_formulas)
    paths = write_review(
        review,
        tmp_path,
        title="paper",
        run_settings={"seeds": list(range(42, 52))},
        provenance=[{"dataset": "SPAMBASE", "sha256": "b1ef93de"}],
        versions={"symact": "0.1.0"},
    )
    forests = sorted(k for k in paths if k.startswith("forest_"))
    # one forest plot per configuration other than the two baselines
    n_models = len(set(review.statistics["model"]) - {"Light ReLU", "Heavy ReLU"})
    assert len(forests) == n_models > 0
    # SPAMBASE is in the run: a forest plot per claim, each made of its comparisons
    claim_figures = sorted(k for k in paths if k.startswith("claim_"))
    assert claim_figures == [f"claim_{i}_png" for i in range(4)]
    assert sorted(set(paths) - set(forests) - set(claim_figures)) == [
        "claims",
        "pareto_png",
        "report",
        "runs",
        "statistics",
        "statistics_settings",
        "suite_statistics",
        "transfer_matrix",
        "transfer_matrix_png",
    ]
    # 10 models but only FOREST_COVER and SPAMBASE hold them all: no CD diagram, a sentence
    html = paths["report"].read_text(encoding="utf-8")
    assert "Mean ranks over 2 datasets holding every model: not decidable" in html
    suite = pd.read_csv(paths["suite_statistics"])
    assert list(suite.columns) == list(SUITE_COLUMNS)
    assert json.loads(paths["statistics_settings"].read_text())["bootstrap_seed"] == 0
    assert list(pd.read_csv(paths["statistics"]).columns) == list(STATISTICS_COLUMNS)
    assert list(pd.read_csv(paths["runs"]).columns) == list(RUNS_COLUMNS)
    assert list(pd.read_csv(paths["transfer_matrix"]).columns) == list(TRANSFER_COLUMNS)
    claims = pd.read_csv(paths["claims"])
    assert list(claims.columns) == list(CLAIMS_COLUMNS)
    assert list(claims["verdict"]) == ["does not hold", "holds", "holds", "holds"]
    back = pd.read_csv(paths["statistics"])
    assert len(back) == len(review.statistics)
    assert back["p_holm"].to_numpy() == pytest.approx(review.statistics["p_holm"].to_numpy())
    assert "bootstrap_seed" in paths["report"].read_text(encoding="utf-8")
