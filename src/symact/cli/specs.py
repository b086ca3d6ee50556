"""Flags turned into the library's settings, once: which rows (``DataSpec`` and the data
options of a suite), how gplearn discovers, how a network is shaped and trained.

Every command that needs a setting asks here, so two commands given the same flags read
the same data and train the same way.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from symact.cli.checks import UsageError, name_list, one_seed, width_list


def file_options(args: argparse.Namespace) -> dict:
    """The data flags that apply to file datasets, as ``DataSpec`` fields (only those given,
    so a spec's defaults and key stay where no flag was)."""
    opts: dict = {}
    if args.target is not None:
        opts["target"] = args.target
    if args.positive is not None:
        opts["positive"] = args.positive
    if args.drop is not None:
        opts["drop"] = name_list(args.drop, "--drop")
    if args.missing != "impute":
        opts["missing"] = args.missing
    return opts


def data_spec(name: str, args: argparse.Namespace, rows: int | None):
    """The ``DataSpec`` a dataset flag names: a registry name in its canonical spelling, or
    a file (or OpenML source), which alone takes the file flags."""
    from symact.data.registry import resolve_name
    from symact.experiments.specs import DataSpec

    registry = resolve_name(name)
    options = {} if registry is not None else file_options(args)
    return DataSpec(registry or name, rows=rows, labels=args.labels, **options)


def gplearn_settings(args: argparse.Namespace):
    """``GplearnSettings`` from the gplearn option group (see ``options.add_gplearn_options``)."""
    from symact.discovery import PAPER_FUNCTION_SET, GplearnSettings, check_engine

    functions = PAPER_FUNCTION_SET
    if args.function_set is not None:
        from symact.formula.operators import GPLEARN_FUNCTIONS

        functions = tuple(v.lower() for v in name_list(args.function_set, "--function-set"))
        bad = [f for f in functions if f not in GPLEARN_FUNCTIONS]
        if bad:
            raise UsageError(
                f"--function-set: {bad[0]!r} is not a gplearn function; choose from "
                f"{','.join(GPLEARN_FUNCTIONS)}"
            )
    seed = one_seed(
        args.gp_seed,
        "--gp-seed",
        "; for several discoveries use --discovery-seeds N (seeds from --gp-seed on)",
    )
    settings = GplearnSettings(
        subsample=args.subsample,
        seed=seed,
        generations=args.generations,
        population_size=args.population_size,
        function_set=functions,
        n_jobs=args.gp_jobs,
    )
    check_engine(args.engine, settings)
    return settings


def model_spec(
    text: str,
    flag: str,
    *,
    allow_none: bool = False,
    arch: str = "mlp",
    blocks: int | None = None,
):
    """The ``ModelSpec`` of a widths flag (``64,32``) and the architecture options
    (``options.add_architecture_options``); None where ``allow_none`` and the flag says
    none."""
    from symact.errors import SettingError
    from symact.models import ModelSpec

    hidden = width_list(text, flag, allow_none=allow_none)
    if hidden is None:
        return None
    if arch == "resnet" and len(hidden) != 2:
        raise UsageError(
            f"{flag}: --arch resnet takes two widths, WIDTH,INNER (the block's width and its "
            f"inner width), got {text!r}"
        )
    if blocks is not None and arch != "resnet":
        raise UsageError("--blocks applies to --arch resnet only; leave it out or add --arch")
    try:
        return ModelSpec(hidden=hidden, arch=arch, blocks=blocks)
    except SettingError as exc:
        raise UsageError(f"--arch {arch} --blocks {blocks} {flag} {text}: {exc}") from None


def train_config(args: argparse.Namespace, epochs: int | str | None = None):
    """``TrainConfig`` from the training option group (``options.add_training_options``)
    where the command has it, else the defaults; ``epochs`` None: the config's default;
    ``"auto"``: early stopping (``TrainConfig.auto``), with ``--patience`` where given."""
    from symact.training import TrainConfig

    settings: dict = {}
    patience = getattr(args, "patience", None)
    if patience is not None and epochs != "auto":
        raise UsageError("--patience applies to --epochs auto only; add it or drop --patience")
    if epochs is not None and epochs != "auto":
        settings["epochs"] = epochs
    if hasattr(args, "batch_size"):
        if args.batch_size < 2:
            raise UsageError(
                f"--batch-size must be >= 2 (BatchNorm needs 2 rows), got {args.batch_size}"
            )
        settings["batch_size"] = args.batch_size
    if hasattr(args, "optimizer"):
        if not 0 < args.lr < float("inf"):  # NaN fails too
            raise UsageError(f"--lr must be a finite number > 0, got {args.lr}")
        if not 0 <= args.weight_decay < float("inf"):
            raise UsageError(
                f"--weight-decay must be a finite number >= 0, got {args.weight_decay}"
            )
        settings.update(optimizer=args.optimizer, lr=args.lr, weight_decay=args.weight_decay)
    if epochs == "auto":
        if patience is not None:
            settings["patience"] = patience
        return TrainConfig.auto(**settings)
    return TrainConfig(**settings)


def suite_entry(args: argparse.Namespace, name: str, flag: str):
    """The entry of ``--suite`` that ``name`` (given as ``flag``) names: its source, path,
    file name or table label, with ``--rows`` applied; the data flags belong to the file
    then. ``discover`` and ``search`` read their datasets from a suite file through this."""
    from dataclasses import replace

    from symact.experiments.suite_file import load_suite_file, suite_file_path
    from symact.experiments.suites import dataset_label

    for option, value in (("--target", args.target), ("--positive", args.positive)):
        if value is not None:
            raise UsageError(f"{option}: the suite file sets it for each dataset; remove it")
    found = load_suite_file(suite_file_path(args.suite), args.data_dir)
    wanted = name.strip()
    for spec in found.datasets:
        path = Path(spec.name)
        names = {spec.name, path.name, path.name.split(".", 1)[0], dataset_label(spec.name)}
        if wanted in names or wanted.upper() == dataset_label(spec.name):
            return spec if args.rows is None else replace(spec, rows=args.rows)
    known = ", ".join(Path(d.name).name for d in found.datasets)
    raise UsageError(f"{flag} {wanted!r} is not an entry of {found.path}; its entries: {known}")
