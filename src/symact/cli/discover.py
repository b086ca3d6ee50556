"""``symact discover``: gplearn's formula on one dataset (a registry name, a file, an OpenML
source or an entry of a suite file), printed with its fitness."""

from __future__ import annotations

import argparse

from rich.console import Console

from symact.cli.checks import UsageError, check_datasets
from symact.cli.options import add_data_options, add_gplearn_options
from symact.cli.session import say
from symact.cli.specs import data_spec, gplearn_settings, suite_entry


def add_parser(sub) -> None:
    d = sub.add_parser("discover", help="discover an activation formula on one dataset")
    d.add_argument(
        "--dataset",
        required=True,
        help="registry name, openml:ID, a CSV/Parquet path, or an "
        "entry of --suite (its source or file name)",
    )
    d.add_argument("--suite", default=None, help="a suite file whose entry --dataset names")
    add_data_options(d)
    add_gplearn_options(d)


def command(args: argparse.Namespace, console: Console) -> int:
    settings = gplearn_settings(args)
    if args.labels == "all":
        raise UsageError("--labels all: gplearn discovery fits binary tasks only")
    if args.suite is not None:
        spec = suite_entry(args, args.dataset, "--dataset")
    else:
        check_datasets([args.dataset], args, ["--dataset"])
        spec = data_spec(args.dataset, args, args.rows)
    from symact.discovery import FITNESS, discover_with
    from symact.experiments.datacache import DataCache

    ds = DataCache(args.data_dir).dataset(spec)
    for note in ds.provenance.notes:  # before the work, as benchmark and search say them
        say(console, f"note {ds.display_name}: {note}", "yellow")
    found = discover_with(args.engine, ds, settings=settings)
    record = found.to_dict()
    say(console, f"dataset     {ds.display_name} ({ds.n_rows} rows, {ds.n_features} features)")
    for key in ("program", "activation", "simplified", "latex"):
        say(console, f"{key:<11} {record[key]}")
    say(
        console,
        f"fitness     {found.fitness:.6f} ({FITNESS[found.method]}, {found.n_samples} rows, "
        f"{found.seconds:.1f} s)",
    )
    return 0
