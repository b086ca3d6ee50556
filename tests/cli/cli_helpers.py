"""Helpers of the CLI tests: what a run printed, a user's CSV made of real rows, listings."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

#: The Light and Heavy runs of a benchmark, as small as a real one can be.
FAST = ["--discovery", "none", "--seeds", "42", "--epochs", "1", "--device", "cpu"]

#: spambase columns used as the mail file's numeric features (0-based), and their names
MAIL_FEATURES = {0: "make", 4: "our", 6: "remove", 15: "free", 20: "your", 52: "dollar"}
#: spambase column 54 (average length of capital runs), made text: three levels
BAND_COLUMN = 54
#: the mail file's columns, in order
MAIL_COLUMNS = ["id", "y", *MAIL_FEATURES.values(), "band"]


@dataclass(frozen=True)
class CliResult:
    """Exit status and what ``symact`` printed."""

    status: int
    out: str
    err: str

    @property
    def error(self) -> str:
        """The one line of a user error: exit status 2, exactly one non-empty line on
        stderr, no traceback, and not the line of a bug in symact (exit status 1)."""
        assert self.status == 2, (
            f"expected exit status 2 (a user error), got {self.status}:\n{self.err}"
        )
        lines = [line for line in self.err.splitlines() if line.strip()]
        assert len(lines) == 1, f"expected one error line, got:\n{self.err}"
        assert lines[0].startswith("error: "), self.err
        assert "bug in symact" not in lines[0], self.err
        assert "Traceback" not in self.out + self.err
        assert "MarkupError" not in self.out + self.err
        return lines[0]


def band(capital_run_average: float) -> str:
    """A text column with three levels, from a real spambase feature."""
    if capital_run_average < 2:
        return "short"
    return "medium" if capital_run_average < 4 else "long"


def mail_rows(spambase: Path, *, every: int = 10) -> list[list[str]]:
    """Real spambase rows (every ``every``-th, both classes) as a user's table with
    ``MAIL_COLUMNS``: ``id`` (text, one level per row), ``y`` (``yes``/``no``), six numeric
    word frequencies, and ``band`` (text, three levels)."""
    rows = []
    for i, line in enumerate(spambase.read_text().splitlines()[::every]):
        v = line.split(",")
        label = "yes" if v[-1] == "1" else "no"
        features = [v[j] for j in MAIL_FEATURES]
        rows.append([f"msg{i:05d}", label, *features, band(float(v[BAND_COLUMN]))])
    return rows


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def listing(folder: Path) -> list[str]:
    """Every path under ``folder``, relative, sorted (to prove nothing was created)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))
