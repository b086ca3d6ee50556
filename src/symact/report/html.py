"""report.html: one self-contained file a reviewer opens in any browser, offline.

Everything is inside the file: figures as base64 PNG data URIs, the stylesheet and a small
sorting script inline, no fonts, no network. A Content-Security-Policy allows exactly that
(images from data URIs, the one stylesheet and the one script by their sha256), so even a
mistake elsewhere could not make the page load or run anything else. The page is a jinja2
template with autoescaping on: formulas, paths and labels are user text and always appear
literally, never as markup. :func:`render_report` is a pure function of a :class:`ReportData`
of plain values; :func:`write_report` writes it atomically.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
import secrets
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from symact.numbers import is_missing

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

TableRows = pd.DataFrame | Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class ReportTable:
    """One table of the report: a title, its rows (a DataFrame or a list of dicts with the
    same keys), and a note saying how to read it. ``anchor``: the section id (derived from
    the title when empty)."""

    title: str
    rows: TableRows
    note: str = ""
    anchor: str = ""
    folded: bool = False  # shown closed (<details>): evidence a reader opens on demand


@dataclass(frozen=True)
class ReportFigure:
    """One figure: ``png`` is the PNG itself (bytes) or the path of a PNG file."""

    title: str
    png: bytes | str | Path
    caption: str = ""
    folded: bool = False  # shown closed (<details>): a detail a reader opens on demand


@dataclass(frozen=True)
class ReportData:
    """Everything report.html shows, as plain values; rendering computes nothing else.

    ``settings``: the run's settings (protocol, seeds, statistics settings; nested values are
    shown as JSON). ``provenance``: one dict per data file (dataset, path, rows, sha256, ...;
    any keys). ``versions``: package name -> version. ``tables`` and ``figures`` appear in
    the given order; ``notes`` are sentences shown after the tables. ``generated``: a
    timestamp text supplied by the caller, so the same data render the same page.
    """

    title: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    provenance: Sequence[Mapping[str, Any]] = ()
    versions: Mapping[str, str] = field(default_factory=dict)
    tables: Sequence[ReportTable] = ()
    figures: Sequence[ReportFigure] = ()
    notes: Sequence[str] = ()
    generated: str = ""
    verdict_title: str = ""
    verdict: Sequence[str] = ()
    verdict_figures: Sequence[ReportFigure] = ()


@dataclass(frozen=True)
class _Cell:
    text: str
    sort: str | None
    kind: str


# Cell values that are verdicts get a style; the class comes from this fixed table, never from
# the text itself. "yes" (significant) is bold, not coloured: a significant loss is no success.
_VERDICT_CLASSES = {
    "holds": "holds",
    "does not hold": "refuted",
    "not decidable with these seeds": "open",
    "untestable": "open",
    "yes": "sig",
}


# What each metric column means, shown as the header's tooltip: every number is labelled.
COLUMN_HELP: dict[str, str] = {
    "mean_diff": "mean over paired seeds of (model - baseline), in the metric's units",
    "ci_low": "95% Student-t interval of the mean difference, low end",
    "ci_high": "95% Student-t interval of the mean difference, high end",
    "ci_boot_low": "95% bootstrap interval of the mean difference, low end",
    "ci_boot_high": "95% bootstrap interval of the mean difference, high end",
    "p_t": "paired t test p-value (two-sided)",
    "p_wilcoxon": "Wilcoxon signed-rank p-value over the seeds (two-sided)",
    "p_holm": "paired t p after Holm's step-down within (dataset, baseline, metric)",
    "significant": "p_holm below alpha; 'untestable' with too few pairs",
    "n_pairs": "seeds where both runs finished",
    "W/T/L": "datasets won / tied / lost (paired t per dataset, Holm over the suite's datasets)",
    "median_diff": "median over datasets of the mean paired difference",
    "gap closed": "share of each dataset's Light ReLU -> Heavy ReLU gap closed: median [IQR]",
    "wilcoxon_p": "Wilcoxon signed-rank across datasets on the per-dataset mean differences",
    "across datasets": "the Wilcoxon verdict across datasets",
    "mean_rank": "mean rank over datasets among all models (1 = best; Friedman)",
    "by rank": "Nemenyi: mean ranks further apart than the critical difference",
    "Acc": "test accuracy, mean ± population std over seeds",
    "AUC": "test ROC AUC, mean ± population std over seeds",
    "Efficiency": "the paper's AUC / log10(params)",
    "difference [95% CI]": "mean over paired seeds of (finalist - best baseline by validation), "
    "in the dataset's metric, with its 95% t-interval",
    "majority class": "accuracy of always predicting the held-out set's most common class",
}


def render_report(data: ReportData) -> str:
    """The page as a string: a pure function of ``data``."""
    assets = _assets()
    tables = [_table_context(t, i) for i, t in enumerate(data.tables)]
    anchors = [t["anchor"] for t in tables]
    if len(set(anchors)) != len(anchors):
        raise ValueError(f"two report tables share a section id: {anchors}")
    return _template().render(
        title=data.title,
        generated=data.generated,
        csp=assets["csp"],
        css=Markup(assets["css"]),
        js=Markup(assets["js"]),
        settings=[(str(k), _setting_text(v)) for k, v in data.settings.items()],
        provenance=_rows_context(data.provenance),
        versions=[(str(k), str(v)) for k, v in data.versions.items()],
        tables=tables,
        notes=[str(n) for n in data.notes],
        figures=[_figure_context(f) for f in data.figures],
        verdict_title=data.verdict_title,
        verdict=[str(v) for v in data.verdict],
        verdict_figures=[_figure_context(f) for f in data.verdict_figures],
    )


def write_report(data: ReportData, path: str | Path) -> Path:
    """Render and write ``path`` atomically (a temporary file beside it, then os.replace), so
    a reader never sees half a report and an interrupted write leaves the old one."""
    path = Path(path)
    html = render_report(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its files are 0600, and the report is meant to be shared (umask decides).
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        with open(tmp, "x", encoding="utf-8", newline="\n") as f:
            f.write(html)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("symact.report", "templates"),
        autoescape=True,  # every {{ }} is escaped unless it is our own Markup (css, js)
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html.j2")


@cache
def _assets() -> dict[str, str]:
    folder = resources.files("symact.report") / "templates"
    css = (folder / "report.css").read_text(encoding="utf-8")
    js = (folder / "report.js").read_text(encoding="utf-8")
    csp = (
        "default-src 'none'; img-src data:; "
        f"style-src '{_sha256(css)}'; script-src '{_sha256(js)}'; "
        "base-uri 'none'; form-action 'none'"
    )
    return {"css": css, "js": js, "csp": csp}


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def _setting_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=True, default=str, allow_nan=True)
    except (TypeError, ValueError):
        return str(value)


def _anchor(title: str, index: int) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return slug or f"table-{index}"


def _table_context(table: ReportTable, index: int) -> dict[str, Any]:
    context = _rows_context(table.rows)
    anchor = table.anchor or _anchor(table.title, index)
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", anchor):
        raise ValueError(f"table anchor must be letters, digits, '-' or '_', got {anchor!r}")
    return {
        "title": table.title,
        "note": table.note,
        "anchor": anchor,
        "folded": table.folded,
        **context,
    }


def _rows_context(rows: TableRows) -> dict[str, Any]:
    if isinstance(rows, pd.DataFrame):
        columns = [str(c) for c in rows.columns]
        records = rows.to_dict("records")
    else:
        records = [dict(r) for r in rows]
        columns = list(dict.fromkeys(str(k) for r in records for k in r))
    body = [[_cell(column, record.get(column)) for column in columns] for record in records]
    return {"columns": [(c, COLUMN_HELP.get(c, "")) for c in columns], "rows": body}


def _cell(column: str, value: Any) -> _Cell:
    """Display text, raw sort key and CSS class of one value."""
    if is_missing(value):
        return _Cell("n/a", "", "num none")
    if value is pd.NA:
        return _Cell("n/a", "", "num none")
    if isinstance(value, bool | np.bool_):
        return _Cell(str(bool(value)), None, "text")
    if isinstance(value, int | np.integer):
        return _Cell(str(int(value)), str(int(value)), "num")
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isinf(v):
            return _Cell("∞" if v > 0 else "-∞", repr(v), "num")
        return _Cell(_format_float(column, v), repr(v), "num")
    text = "; ".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)
    return _Cell(text, None, f"text {_VERDICT_CLASSES.get(text, '')}".strip())


def _format_float(column: str, value: float) -> str:
    if column.startswith("p_") or column.startswith("p-"):
        return f"{value:.3g}"
    if value != 0.0 and abs(value) < 5e-5:  # would read as 0.0000
        return f"{value:.1e}"
    return f"{value:.4f}"


def _figure_context(figure: ReportFigure) -> dict[str, Any]:
    png = figure.png if isinstance(figure.png, bytes) else Path(figure.png).read_bytes()
    if png[:8] != PNG_SIGNATURE or len(png) < 24:
        raise ValueError(f"figure {figure.title!r} is not a PNG")
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    return {
        "title": figure.title,
        "caption": figure.caption,
        "folded": figure.folded,
        "uri": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
        "width": width,
        "height": height,
    }
