"""A benchmark and a search into one ``--out``: neither replaces the other's outputs, and
``symact report DIR`` rebuilds both."""

from __future__ import annotations

from cli_helpers import FAST

SEARCH = ["--budget", "12", "--population", "8", "--tournament", "4", "--epochs", "1",
          "--final-seeds", "3", "--final-epochs", "1", "--rerank", "2", "--top", "1",
          "--no-specialist-baseline", "--device", "cpu"]  # fmt: skip
BENCHMARK_TITLE = "<title>symact benchmark: BREAST_CANCER</title>"
SEARCH_TITLE = "<title>symact search on BREAST_CANCER</title>"


def test_a_search_and_a_benchmark_share_one_out(symact, tmp_path):
    out = tmp_path / "out"
    bench = symact("benchmark", "--datasets", "breast_cancer", *FAST, "--heavy-widths", "none",
                   "--out", str(out))  # fmt: skip
    assert bench.status == 0, bench.err
    search = symact("search", "--dataset", "breast_cancer", *SEARCH, "--out", str(out))
    assert search.status == 0, search.err
    report, search_report = out / "report.html", out / "search_report.html"
    assert BENCHMARK_TITLE in report.read_text()
    assert SEARCH_TITLE in search_report.read_text()
    report.unlink()
    search_report.unlink()
    rebuilt = symact("report", str(out))
    assert rebuilt.status == 0, rebuilt.err
    assert "rebuilt the benchmark and search outputs" in rebuilt.out
    assert BENCHMARK_TITLE in report.read_text()
    assert SEARCH_TITLE in search_report.read_text()
