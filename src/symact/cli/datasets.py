"""``symact datasets``: the registry, what is cached, and which data folder is used."""

from __future__ import annotations

import argparse
import os

from rich.console import Console
from rich.text import Text

from symact.cli.session import say


def add_parser(sub) -> None:
    ds = sub.add_parser("datasets", help="list the dataset registry and what is cached")
    ds.add_argument(
        "--data-dir", default=None, help="folder holding the dataset files (default: the cache)"
    )


def command(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

    from symact.data import dataset_table
    from symact.data.registry import data_home

    table = Table(title="symact datasets", show_lines=True)
    for column in ("name", "domain", "rows", "features", "cached"):
        table.add_column(column, no_wrap=True)
    table.add_column("label and file")
    for row in dataset_table(data_dir=args.data_dir):
        rows = "all" if row["rows"] is None else f"{row['rows']:,}"
        where = f"\n{row['path']}" if row["path"] else ""
        table.add_row(
            Text(f"{row['name']}\n{row['display_name']}"),
            Text(str(row["domain"])),
            Text(f"{rows}\nof {row['rows_full']:,}"),
            Text(str(row["features"])),
            Text("yes" if row["cached"] else "no"),
            Text(f"{row['label_rule']}{where}"),
        )
    console.print(table)
    say(console, f"data folder: {data_home(args.data_dir)} ({_data_home_source(args.data_dir)})")
    return 0


def _data_home_source(data_dir: str | None) -> str:
    """Why the data folder is the one it is, and how to choose another."""
    if data_dir is not None:
        return "--data-dir"
    if os.environ.get("SYMACT_DATA_DIR"):
        return "$SYMACT_DATA_DIR"
    return "the per-user cache; --data-dir or $SYMACT_DATA_DIR choose another"
