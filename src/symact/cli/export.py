"""``symact export``: a run's trained network as PyTorch and ONNX files with a model card
(the work is :func:`symact.export.commands.export_command`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from symact.cli.session import say


def add_parser(sub) -> None:
    e = sub.add_parser("export", help="write a run's trained network (PyTorch, ONNX, card)")
    e.add_argument("out", help="folder to write model.pt, model.onnx and model_card.* into")
    e.add_argument("--from", dest="results", required=True, help="a results folder")
    which = e.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", default=None, help="the run's key (or a unique prefix)")
    which.add_argument(
        "--best", action="store_true", help="the search's best finalist by validation score"
    )
    e.add_argument("--data-dir", default=None, help="folder holding the dataset files")


def command(args: argparse.Namespace, console: Console) -> int:
    from symact.export.commands import export_command

    export_command(
        Path(args.out),
        Path(args.results),
        run=args.run,
        best=args.best,
        data_dir=args.data_dir,
        say=lambda text: say(console, text),
    )
    return 0
