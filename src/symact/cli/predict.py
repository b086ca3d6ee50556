"""``symact predict``: an exported model's predictions for new rows of the same columns
(the work is :func:`symact.export.commands.predict_command`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from symact.cli.session import say


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="predict the rows of a CSV with an exported model")
    p.add_argument("model", help="a folder written by symact export (or its model.pt)")
    p.add_argument("data", help="CSV or Parquet file with the model's columns")
    p.add_argument("--out", required=True, help="CSV file to write the predictions to")


def command(args: argparse.Namespace, console: Console) -> int:
    from symact.export.commands import predict_command

    predict_command(
        Path(args.model), Path(args.data), Path(args.out), say=lambda text: say(console, text)
    )
    return 0
