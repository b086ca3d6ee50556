"""``symact report``: a results folder's outputs rebuilt from its store (a benchmark's, a
search's or both), without training anything."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from symact.cli.checks import UsageError
from symact.cli.session import say


def add_parser(sub) -> None:
    r = sub.add_parser("report", help="rebuild a results folder's outputs from its store")
    r.add_argument("folder", help="a folder written by symact benchmark or symact search")


def command(args: argparse.Namespace, console: Console) -> int:
    folder = Path(args.folder)
    store_path = folder / "symact.sqlite"
    written_by = "name a folder written by symact benchmark --out or symact search --out"
    if not folder.exists():
        raise UsageError(f"{folder} does not exist; {written_by}")
    if not folder.is_dir():
        raise UsageError(f"{folder} is a file, not a results folder; {written_by}")
    if not store_path.is_file():
        raise UsageError(
            f"{folder} holds no results store (symact.sqlite); name a folder written by "
            "symact benchmark --out or symact search --out"
        )
    from symact.experiments import ResultsStore

    with ResultsStore(store_path, protocol=False) as store:  # a report reads any protocol
        written, reports = [], []
        if store.get_document("suite") is not None:
            from symact.report.outputs import write_outputs

            write_outputs(store, folder)
            written.append("benchmark")
            reports.append("report.html")
        if store.get_document("search") is not None:
            from symact.search.outputs import SEARCH_REPORT, write_search_outputs

            write_search_outputs(store, folder)
            written.append("search")
            reports.append(SEARCH_REPORT)
    if not written:
        raise UsageError(
            f"{store_path} holds no finished benchmark or search; finish one with the same "
            "--out first"
        )
    say(
        console,
        f"rebuilt the {' and '.join(written)} outputs in {folder}/ ({', '.join(reports)})",
    )
    return 0
