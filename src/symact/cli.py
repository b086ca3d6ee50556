"""The ``symact`` command: benchmark suites, activation search, reports, discovery, datasets.

Every subcommand validates its arguments here, at the edge, before any heavy import or any
work: a bad flag, token, file, column or folder is one line naming it and how to fix it, and
exit status 2. The library's user errors (``symact.errors.UserError``: data, formula, store,
Ray) become such a line too (data-stage errors spell their options as flags, ``--positive``).
Any other exception is a bug in symact: one line saying so and naming the file that holds
its traceback (in ``--out`` where it exists, else the temp folder), exit status 1. Ctrl-C or
SIGTERM exits 130 after
saying what is kept and how to resume. User text (paths, formulas) is never passed through
rich markup.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from symact.errors import UserError

EXIT_USAGE = 2
#: an internal error (a bug in symact), reported with the file holding its traceback
EXIT_BUG = 1
EXIT_INTERRUPTED = 130
MAX_SEED = 2**32 - 1


class UsageError(UserError, ValueError):
    """A command-line problem found before any work: one line, exit status 2."""


# ------------------------------------------------------------------------------ values


def seed_list(text: str, flag: str = "--seeds") -> tuple[int, ...]:
    """``42,43,44``, ``42-51`` or both (``1-3,7``): distinct seeds in [0, 2**32)."""
    seeds: list[int] = []
    tokens = [t.strip() for t in text.split(",")]
    for token in tokens:
        if not token:
            if any(tokens):
                raise UsageError(f"{flag}: an empty seed in {text!r}; remove the extra comma")
            continue
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", token)
        if m is None:
            raise UsageError(
                f"{flag}: {token!r} is not a seed or a range; write e.g. {flag} 42,43 or "
                f"{flag} 42-51 (seeds are integers from 0 to {MAX_SEED})"
            )
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise UsageError(f"{flag}: the range {token!r} runs backwards; write {hi}-{lo}")
        if hi > MAX_SEED:
            raise UsageError(f"{flag}: seed {hi} is above {MAX_SEED}")
        if hi - lo > 10_000:
            raise UsageError(f"{flag}: the range {token!r} holds more than 10,000 seeds")
        seeds.extend(range(lo, hi + 1))
    if not seeds:
        raise UsageError(f"{flag}: no seed given; write e.g. {flag} 42,43,44")
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:
        raise UsageError(f"{flag}: seed {twice[0]} is listed twice; list each seed once")
    return tuple(seeds)


def name_list(text: str, flag: str) -> tuple[str, ...]:
    names = tuple(v.strip() for v in text.split(","))
    if not any(names):
        raise UsageError(f"{flag}: no name given (got {text!r}); list at least one")
    if any(not n for n in names):
        raise UsageError(f"{flag}: an empty name in {text!r}; remove the extra comma")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"{flag}: {twice[0]!r} is listed twice")
    return names


def split_top_level(text: str) -> list[str]:
    """Split at commas outside parentheses: ``relu,mul(cos(x), x)`` is two activations."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts]


def activation_list(text: str, flag: str = "--activations") -> tuple[str, ...]:
    """Names or formulas, each checked now; a formula error names its position."""
    from symact.formula import FormulaError
    from symact.models.spec import canonical_activation
    from symact.search.screen import CONSTANT

    items = split_top_level(text)
    if not any(items) or any(not i for i in items):
        raise UsageError(
            f"{flag}: an empty activation in {text!r}; write e.g. {flag} relu,gelu,'x*tanh(x)'"
        )
    out: list[str] = []
    for position, item in enumerate(items, start=1):
        try:
            canonical = canonical_activation(item)
        except FormulaError as exc:
            raise UsageError(
                f"{flag}: {item!r} is neither a named activation (relu, gelu, silu, tanh, "
                f"sigmoid, identity) nor a formula of x: {exc}"
            ) from None
        if canonical in out:
            raise UsageError(f"{flag}: {item!r} is listed twice (as {canonical})")
        if _activation_reason(canonical) == CONSTANT:
            raise UsageError(
                f"{flag}: activation {position} of {len(items)}, {item!r}, is constant: every "
                "unit of a network with it outputs the same value whatever its input, so it "
                "learns nothing (symact search rejects such formulas too); remove it or make "
                "it depend on x"
            )
        out.append(canonical)
    return tuple(out)


def _activation_reason(canonical: str) -> str | None:
    """Why the search's screen would reject an activation (None: it would not), so a
    benchmark refuses and notes exactly what a search rejects. Named activations are
    nonlinear except identity, screened as x."""
    from symact.formula import parse_formula
    from symact.formula.named import named_activation
    from symact.search.screen import screen

    if canonical == "identity":
        canonical = "x"
    elif named_activation(canonical) is not None:
        return None
    return screen(parse_formula(canonical)).reason


def activation_notes(activations: Sequence[str], flag: str = "--activations") -> list[str]:
    """A note for each activation the search would reject other than as constant (linear,
    non-finite or exploding on N(0, 1) inputs): a benchmark trains it as asked."""
    notes = []
    for position, activation in enumerate(activations, start=1):
        reason = _activation_reason(activation)
        if reason is not None:
            notes.append(
                f"{flag}: activation {position}, {activation}, is {reason}; it is trained "
                "as asked (symact search would reject it)"
            )
    return notes


def width_list(text: str, flag: str, *, allow_none: bool = False) -> tuple[int, ...] | None:
    if allow_none and text.strip().lower() == "none":
        return None
    try:
        widths = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UsageError(
            f"{flag}: expected comma-separated widths like 64,32, got {text!r}"
        ) from None
    if not widths or any(w < 1 or w > 100_000 for w in widths):
        raise UsageError(f"{flag}: widths must be integers from 1 to 100000, got {text!r}")
    return widths


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {value}")
    return value


# ------------------------------------------------------------------------------ parser


def _add_gplearn_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("discovery (gplearn; defaults are the paper's)")
    g.add_argument("--generations", type=positive_int, default=5, help="gplearn generations")
    g.add_argument(
        "--population-size",
        type=positive_int,
        default=500,
        help="gplearn population per generation",
    )
    g.add_argument(
        "--subsample", type=fraction, default=0.1, help="fraction of rows gplearn fits on"
    )
    g.add_argument("--gp-seed", default="42", help="random_state of gplearn")
    g.add_argument(
        "--function-set",
        default=None,
        help="comma-separated gplearn functions (add,sub,mul,sin,cos,abs)",
    )
    g.add_argument(
        "--engine",
        choices=["gplearn", "operon"],
        default="gplearn",
        help="discovery engine: gplearn (the paper's) or operon (pip install 'symact[operon]')",
    )
    g.add_argument(
        "--gp-jobs",
        type=positive_int,
        default=1,
        help="gplearn n_jobs; the program found is the same for any value",
    )


def _add_data_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument(
        "--data-dir",
        default=None,
        help="folder holding the dataset files (default: the cache folder `symact datasets` shows)",
    )
    g.add_argument("--rows", type=positive_int, default=None, help="rows per dataset (cap)")
    g.add_argument(
        "--target", default=None, help="label column of file datasets (name or 0-based position)"
    )
    g.add_argument("--positive", default=None, help="label value that becomes 1 (file datasets)")
    g.add_argument(
        "--drop", default=None, help="comma-separated columns of file datasets to leave out"
    )
    g.add_argument(
        "--labels",
        choices=["binary", "all"],
        default="binary",
        help="binary (the paper's task) or all classes (softmax)",
    )
    g.add_argument(
        "--missing",
        choices=["impute", "drop", "refuse"],
        default="impute",
        help="missing cells of file datasets: impute (median / most frequent level, fitted on "
        "each split's training rows, plus an indicator column), drop their rows, or refuse",
    )


def _add_executor_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("where stacks train")
    g.add_argument("--device", default="auto", help="auto, cpu or cuda")
    g.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local threads (default) or Ray tasks on a cluster",
    )
    g.add_argument(
        "--ray-address",
        default=None,
        help="Ray cluster to join ('auto' or host:port); default: start a local "
        "Ray instance for this command",
    )
    p.add_argument(
        "--wait",
        action="store_true",
        help="when another run holds --out, wait for it to finish (default: stop, naming it)",
    )


class _HelpFormatter(argparse.HelpFormatter):
    """``--help`` with each option's default after its text, where it has one to show
    (None and off switches say nothing; the text then says what happens)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "%(default)" in text
            or "(default" in text
            or default is None
            or default is False
            or default is argparse.SUPPRESS
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """argparse with its errors as one line, like every other error here (the usage it
    would print first is in ``--help``); subcommands' parsers are of this class too, and
    every one shows the defaults in its ``--help``."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see `{self.prog} --help`)\n")


class _CommandParser(_Parser):
    """The ``symact`` parser: alone, without a subcommand, it prints its help (to stdout)
    and exits 2, as a missing subcommand is a usage error to a script and the help is what
    a person typing ``symact`` wants to read."""

    def parse_known_args(self, args=None, namespace=None):
        given = sys.argv[1:] if args is None else list(args)
        if not given:
            self.print_help()
            self.exit(EXIT_USAGE)
        return super().parse_known_args(args, namespace)


def _version() -> str:
    from symact import __version__

    return f"symact {__version__}"


def build_parser() -> argparse.ArgumentParser:
    parser = _CommandParser(
        prog="symact",
        description="Discover activation functions as formulas and benchmark them.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    b = sub.add_parser("benchmark", help="run a benchmark suite (the paper's, builtin, yours)")
    b.add_argument(
        "--suite",
        default="paper",
        help="paper, builtin, a shipped suite file (tabular, openml-cc18) or the path of a "
        "suite file (.toml; see the README), whose [grid] may set --epochs, --activations, "
        "--widths, --heavy-widths, --seeds and --discovery (a flag given wins)",
    )
    b.add_argument("--datasets", default=None, help="comma-separated registry names or files")
    b.add_argument("--out", default="results", help="output folder")
    b.add_argument(
        "--seeds", default=None, help="training seeds: 42,43,44 or 42-51 (default: 42,43,44)"
    )
    b.add_argument("--n-seeds", type=positive_int, default=None, help="seeds 42, 43, ... (N)")
    b.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help="training epochs per run (default: 15)",
    )
    b.add_argument(
        "--activations",
        default=None,
        help="Light activations: names or formulas (default: relu,gelu,silu)",
    )
    b.add_argument(
        "--discovery",
        choices=["gplearn", "none"],
        default=None,
        help="discover each dataset's formula with gplearn (the paper), or none (default: gplearn)",
    )
    b.add_argument(
        "--discovery-part",
        choices=["all", "train"],
        default="all",
        help="rows discovery samples: all (the paper's; the formula sees rows that are later "
        "test rows) or train (each seed's split's training part: one discovery per seed)",
    )
    b.add_argument(
        "--discovery-seeds",
        type=positive_int,
        default=1,
        help="repeat discovery with N seeds (from --gp-seed), each formula a row",
    )
    b.add_argument(
        "--transfer",
        default=None,
        help="datasets lending their formula to the others: names, all or none "
        "(paper: higgs; builtin: all)",
    )
    b.add_argument("--widths", default=None, help="Light hidden widths (default: 64,32)")
    b.add_argument(
        "--heavy-widths",
        default=None,
        help="Heavy widths, or none (default: 200,100)",
    )
    b.add_argument(
        "--learnable-constants",
        action="store_true",
        help="train every formula activation's constants with the weights",
    )
    b.add_argument(
        "--optimizer", choices=["adam", "adamw"], default="adam", help="optimizer of every run"
    )
    b.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    b.add_argument("--weight-decay", type=float, default=0.0, help="weight decay")
    b.add_argument(
        "--reference",
        choices=["lightgbm"],
        default=None,
        help="also fit LightGBM's defaults on every dataset and seed's split, as context in "
        "the tables and figure (pip install 'symact[lightgbm]')",
    )
    b.add_argument(
        "--retry-failed",
        action="store_true",
        help="train every stored failed run again (runs that failed for a transient reason, "
        "such as a lost worker or memory, are retried anyway)",
    )
    _add_data_options(b)
    _add_executor_options(b)
    _add_gplearn_options(b)

    r = sub.add_parser("report", help="rebuild a results folder's outputs from its store")
    r.add_argument("folder", help="a folder written by symact benchmark or symact search")

    d = sub.add_parser("discover", help="discover an activation formula on one dataset")
    d.add_argument(
        "--dataset",
        required=True,
        help="registry name, openml:ID, a CSV/Parquet path, or an "
        "entry of --suite (its source or file name)",
    )
    d.add_argument("--suite", default=None, help="a suite file whose entry --dataset names")
    _add_data_options(d)
    _add_gplearn_options(d)

    ds = sub.add_parser("datasets", help="list the dataset registry and what is cached")
    ds.add_argument(
        "--data-dir", default=None, help="folder holding the dataset files (default: the cache)"
    )

    from symact.search.cli import add_search_parser

    add_search_parser(sub)
    return parser


# ------------------------------------------------------------------------------ checks


def _gp_seed(args: argparse.Namespace) -> int:
    seeds = seed_list(str(args.gp_seed), "--gp-seed")
    if len(seeds) > 1:
        raise UsageError(
            f"--gp-seed takes one seed, got {args.gp_seed!r}; for several discoveries use "
            "--discovery-seeds N (seeds from --gp-seed on)"
        )
    return seeds[0]


def _gplearn_settings(args: argparse.Namespace):
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
    settings = GplearnSettings(
        subsample=args.subsample,
        seed=_gp_seed(args),
        generations=args.generations,
        population_size=args.population_size,
        function_set=functions,
        n_jobs=args.gp_jobs,
    )
    check_engine(args.engine, settings)
    return settings


def _reference(model: str | None) -> str | None:
    """``--reference``, refused in one line when its package is missing."""
    if model is not None:
        from symact.experiments.reference import check_reference

        check_reference(model)
    return model


def check_device(device: str) -> None:
    """--device before torch is imported: auto, cpu, cuda or cuda:N (availability later)."""
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        raise UsageError(f"--device must be 'cpu', 'cuda' or 'auto', got {device!r}")


def _benchmark_seeds(args: argparse.Namespace) -> tuple[int, ...]:
    if args.seeds is not None and args.n_seeds is not None:
        raise UsageError("--seeds and --n-seeds both given; use one (--n-seeds 10 is 42-51)")
    if args.n_seeds is not None:
        return tuple(range(42, 42 + args.n_seeds))
    return seed_list(args.seeds) if args.seeds is not None else (42, 43, 44)


def _file_options(args: argparse.Namespace) -> dict:
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


def check_datasets(
    names: Sequence[str], args: argparse.Namespace, flags: Sequence[str] | None = None
) -> None:
    """Registry names and files that exist; file options only where a file is named.
    ``flags``: the flag that named each name (default ``--datasets`` for all)."""
    from symact.data.openml import is_openml, parse_openml_source
    from symact.data.registry import REGISTRY, resolve_name

    flag_of = dict(zip(names, flags or ["--datasets"] * len(names), strict=True))
    files = [n for n in names if resolve_name(n) is None]
    for n in files:
        if is_openml(n):
            try:
                parse_openml_source(n)
            except ValueError as exc:
                raise UsageError(f"{flag_of[n]}: {exc}") from None
            continue
        path = Path(n)
        if not path.exists():
            looks_like_file = any(sep in n for sep in "/\\") or "." in path.name
            what = "file not found" if looks_like_file else "not a registry dataset or a file"
            raise UsageError(
                f"{flag_of[n]}: {n!r}: {what}; known datasets: {', '.join(REGISTRY)} "
                "(see `symact datasets`), or the path of a CSV or Parquet file"
            )
        if path.is_dir():
            raise UsageError(f"{flag_of[n]}: {n!r} is a folder; name a CSV or Parquet file")
    used = [
        flag
        for flag, value in (
            ("--target", args.target),
            ("--positive", args.positive),
            ("--drop", args.drop),
        )
        if value is not None
    ]
    if used and not files:
        raise UsageError(
            f"{used[0]} applies to file datasets (CSV/Parquet), and this command names only "
            "registry datasets, whose labels are fixed; remove it or name a file"
        )
    if args.positive is not None and args.labels == "all":
        raise UsageError("--positive makes a task binary; it cannot go with --labels all")


def check_out(out: Path, *, wait: bool = False) -> None:
    """--out must be a folder where a results store can be written (nothing is created);
    held by another run, it is refused naming the holder, unless ``wait`` (``--wait``)."""
    from symact.experiments.store import check_results_folder

    if out.is_symlink() and not out.exists():
        raise UsageError(
            f"--out {out} is a symbolic link to {os.readlink(out)}, which does not exist; "
            "create its target, or name a folder that exists or can be created"
        )
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; name a folder (it is created if missing)")
    if out.is_dir() and not (out / "symact.sqlite").exists():
        others = sorted(p.name for p in out.iterdir() if not p.name.startswith(".symact"))
        if others:
            raise UsageError(
                f"--out {out} holds other files ({', '.join(others[:3])}"
                f"{', ...' if len(others) > 3 else ''}) and no symact results store; symact "
                "would overwrite its outputs there: choose a new or empty folder"
            )
    check_results_folder(out, held_ok=wait)


def _benchmark_plan(args: argparse.Namespace):
    """Every check of ``symact benchmark`` that needs no data, and the suite options."""
    from symact.data.registry import resolve_name
    from symact.experiments.suites import BUILTIN_DATASETS, PAPER_DATASETS, dataset_label
    from symact.models import ModelSpec
    from symact.training import TrainConfig

    check_device(args.device)
    seeds = _benchmark_seeds(args)
    found = _suite_file(args)
    from_file = found.grid_options() if found is not None else {}
    _fill_from_suite_file(args, found)
    if found is not None and args.seeds is None and args.n_seeds is None:
        seeds = from_file.get("seeds", seeds)
    names = (
        [d.name for d in found.datasets]
        if found is not None
        else name_list(args.datasets, "--datasets")
        if args.datasets is not None
        else (PAPER_DATASETS if args.suite == "paper" else BUILTIN_DATASETS)
    )
    if found is None:
        check_datasets(names, args)
    canonical = [resolve_name(n) or n for n in names]
    twice = sorted({c for c in canonical if canonical.count(c) > 1})
    if twice:
        raise UsageError(f"--datasets: {twice[0]!r} is named twice")
    labels = [dataset_label(n) for n in names]
    clash = sorted({lab for lab in labels if labels.count(lab) > 1})
    if clash:
        both = [n for n in names if dataset_label(n) == clash[0]]
        raise UsageError(
            f"--datasets: {both[0]!r} and {both[1]!r} would both be called {clash[0]} in the "
            "tables; rename a file"
        )
    activations = activation_list(args.activations)
    multi = [d.name for d in found.datasets if d.labels == "all"] if found is not None else []
    if multi and args.discovery == "gplearn":
        raise UsageError(
            f"{found.path}: dataset {multi[0]!r} has labels = 'all', and the paper's gplearn "
            "discovery fits binary tasks only; add --discovery none (or discovery = 'none' "
            "under [grid])"
        )
    if args.labels == "all" and args.discovery == "gplearn":
        raise UsageError(
            "--labels all: the paper's gplearn discovery fits binary tasks only; add "
            "--discovery none (and compare activations with --activations), or use "
            "`symact search --labels all`"
        )
    if args.discovery == "none" and (args.transfer not in (None, "none")):
        raise UsageError("--transfer needs discovered formulas; drop it or use --discovery gplearn")
    if args.discovery == "none" and args.discovery_seeds != 1:
        raise UsageError("--discovery-seeds needs --discovery gplearn")
    if args.discovery_part == "train" and args.discovery == "none":
        raise UsageError("--discovery-part train needs --discovery gplearn; drop it")
    if args.discovery_part == "train" and args.learnable_constants:
        raise UsageError(
            "--discovery-part train gives each seed its own formula, whose constants may "
            "differ in number: it cannot go with --learnable-constants; drop one of them"
        )
    transfer = None
    if args.transfer is not None:
        transfer = (
            args.transfer
            if args.transfer in ("all", "none")
            else name_list(args.transfer, "--transfer")
        )
        if not isinstance(transfer, str):
            for t in transfer:
                if (resolve_name(t) or t) not in canonical:
                    raise UsageError(
                        f"--transfer: {t!r} is not one of this run's datasets "
                        f"({', '.join(names)}); use all, none or one of them"
                    )
    light = width_list(args.widths, "--widths")
    heavy = width_list(args.heavy_widths, "--heavy-widths", allow_none=True)
    if not 0 < args.lr < float("inf"):  # NaN fails too
        raise UsageError(f"--lr must be a finite number > 0, got {args.lr}")
    if not 0 <= args.weight_decay < float("inf"):
        raise UsageError(f"--weight-decay must be a finite number >= 0, got {args.weight_decay}")
    settings = _gplearn_settings(args)
    gp_seeds = tuple(range(settings.seed, settings.seed + args.discovery_seeds))
    train = TrainConfig(
        epochs=args.epochs, optimizer=args.optimizer, lr=args.lr, weight_decay=args.weight_decay
    )
    options = dict(
        datasets=tuple(names),
        rows=args.rows,  # None: the registry's default (100,000 for HIGGS, covertype), files whole
        seeds=seeds,
        train=train,
        discovery=settings,
        activations=activations,
        light=ModelSpec(hidden=light),
        heavy=None if heavy is None else ModelSpec(hidden=heavy),
        discovery_method="none" if args.discovery == "none" else args.engine,
        discovery_seeds=gp_seeds if args.discovery_seeds > 1 else None,
        learnable_constants=args.learnable_constants,
        discovery_part=args.discovery_part,
        reference=_reference(args.reference),
        labels=args.labels,
        **_file_options(args),
    )
    if found is not None:
        options["datasets"] = found.datasets  # each entry with its own label options
    if transfer is not None:
        options["transfer"] = transfer
    return options


_GRID_DEFAULTS = {
    "activations": "relu,gelu,silu",
    "widths": "64,32",
    "heavy_widths": "200,100",
    "epochs": 15,
    "discovery": "gplearn",
}


def _suite_file(args: argparse.Namespace):
    """The suite file ``--suite`` names, validated whole (None for paper and builtin)."""
    from symact.experiments.suite_file import (
        load_suite_file,
        looks_like_suite_file,
        shipped_suite_files,
        suite_file_path,
    )

    args.suite_name = args.suite
    if args.suite in ("paper", "builtin"):
        return None
    if not looks_like_suite_file(args.suite):
        shipped = ", ".join(shipped_suite_files())
        raise UsageError(
            f"--suite {args.suite!r}: choose paper, builtin, a shipped suite file ({shipped}) "
            "or the path of a suite file ending in .toml"
        )
    if args.datasets is not None:
        raise UsageError(
            "--datasets and --suite FILE both name the datasets; list them in the suite file "
            "or leave out --suite"
        )
    for flag, value in (("--target", args.target), ("--positive", args.positive)):
        if value is not None:
            raise UsageError(
                f"{flag}: a suite file sets it for each dataset (key {flag[2:]}); remove the flag"
            )
    if args.drop is not None or args.labels != "binary":
        flag = "--drop" if args.drop is not None else "--labels"
        raise UsageError(
            f"{flag}: a suite file sets it for each dataset (key {flag[2:]}); remove the flag"
        )
    found = load_suite_file(suite_file_path(args.suite), args.data_dir)
    args.suite_name = found.name
    return found


def _fill_from_suite_file(args: argparse.Namespace, found) -> None:
    """Grid flags not given take the suite file's value, then the command's default."""
    grid = found.grid if found is not None else None
    for key, default in _GRID_DEFAULTS.items():
        if getattr(args, key) is not None:
            continue
        value = getattr(grid, key, None)
        if isinstance(value, tuple):
            value = ",".join(str(v) for v in value)
        setattr(args, key, default if value is None else value)


def _make_suite(args: argparse.Namespace):
    from symact.experiments import make_suite

    return make_suite(getattr(args, "suite_name", args.suite), **args.plan)


# ------------------------------------------------------------------------------ output


def say(console: Console, text: str, style: str | None = None) -> None:
    """Print user-facing text literally: never as markup, never highlighted."""
    console.print(Text(text, style=style or ""), soft_wrap=True, highlight=False)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<24}", markup=False),
        BarColumn(),
        TextColumn("{task.completed:>6.0f}/{task.total:<6.0f} model-epochs", markup=False),
        TimeElapsedColumn(),
        TextColumn("ETA", markup=False),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def _on_progress(progress: Progress):
    bars: dict[str, int] = {}

    def update(desc: str, done: int, total: int) -> None:
        key = "discovery" if desc.startswith("discovery") else desc
        if key not in bars:
            bars[key] = progress.add_task(desc, total=max(total, 1))
        progress.update(bars[key], description=desc, completed=done, total=max(total, 1))

    return update


# ------------------------------------------------------------------------------ benchmark


def _build_kernels() -> None:
    """Compile the fused kernels on a spare core while the main thread still imports; a
    no-op once they are cached. Failures surface later, where training loads them."""
    from symact.training import kernels

    with contextlib.suppress(Exception):
        kernels.prebuild()


def _discovery_child(args: argparse.Namespace, conn) -> None:
    """Runs in the early-forked child: build the suite's missing discoveries and serve them."""
    from symact.experiments.background import child_signals

    child_signals()  # the parent handles Ctrl-C and stops us
    from symact.experiments import DataCache
    from symact.experiments.background import serve
    from symact.experiments.store import stored_keys
    from symact.experiments.suites import discovery_jobs

    gc.freeze()  # as in _benchmark: collections skip what the imports made
    gc.enable()

    def jobs():
        stored = stored_keys(Path(args.out) / "symact.sqlite", "discoveries")
        return discovery_jobs(_make_suite(args), DataCache(args.data_dir), stored)

    serve(jobs, conn)


def _fork_discovery(args: argparse.Namespace):
    """Start the suite's discovery in a child before this process imports anything heavy.

    torch, scikit-learn and matplotlib take ~3 s of one core to import, with nothing else to
    run; the child's own imports, data loading and gplearn fill the other core meanwhile.
    Returns ``(process, connection)`` for ``DiscoveryProcess.adopt``, or None where fork or
    a second core is missing, or no discovery is asked for.
    """
    import multiprocessing

    if args.discovery == "none":
        return None
    if "fork" not in multiprocessing.get_all_start_methods() or (os.cpu_count() or 1) < 2:
        return None
    ctx = multiprocessing.get_context("fork")
    conn, child_end = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_discovery_child, args=(args, child_end), daemon=True)
    from symact.experiments.background import start_child

    start_child(process)
    child_end.close()
    return process, conn


def checked_out_and_executor(args: argparse.Namespace) -> Path:
    """``--out`` and the executor flags of ``benchmark`` and ``search``, checked before any
    heavy import and before anything is created. Returns the ``--out`` folder."""
    if not args.out.strip():  # Path("") is the current folder
        raise UsageError("--out is empty; name a folder, e.g. --out results")
    out = Path(args.out)
    check_out(out, wait=args.wait)
    from symact.training.kernel_cache import check_kernel_cache

    check_kernel_cache()
    if args.executor == "ray":
        from symact.experiments.ray_executor import check_ray_installed

        check_ray_installed()
    elif args.ray_address is not None:
        raise UsageError(
            "--ray-address names a Ray cluster for --executor ray; add --executor ray, or "
            "leave out --ray-address"
        )
    return out


def open_results_store(out: Path, executor, *, wait: bool = False):
    """``out``'s results store, opened once the executor is ready: a ``--ray-address``
    that cannot be joined fails before ``--out`` exists. ``wait`` (``--wait``): while
    another run holds it, say so and wait for it to finish."""
    from symact.experiments import ResultsStore
    from symact.experiments.lock import lock_holder

    if executor is not None:
        executor.ready()
    path = out / "symact.sqlite"
    holder = lock_holder(path) if wait else None
    if holder is not None:
        print(f"waiting for the run holding {path} ({holder}) to finish", file=sys.stderr)
    return ResultsStore(path, wait=wait)


def note_file_datasets(console: Console, cache, datasets) -> None:
    """Load every dataset (its problems surface before any work) and say, before the work,
    which column of each file dataset is the label and how many rows each class has, and
    what loading noted (columns one-hot encoded or dropped, a subset read)."""
    for d in datasets:
        ds = cache.dataset(d)
        if ds.domain in ("user", "openml"):
            say(console, f"note {ds.display_name}: {ds.label_summary()}", "yellow")
        for note in ds.provenance.notes:
            say(console, f"note {ds.display_name}: {note}", "yellow")


def cmd_benchmark(args: argparse.Namespace, console: Console) -> int:
    args.plan = _benchmark_plan(args)
    out = checked_out_and_executor(args)
    # numpy's and scipy's OpenBLAS start a thread per core that spins after each call; torch
    # (MKL) does the heavy arithmetic here, so they only take CPU from the training threads.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # No garbage collection while both processes import (~300k long-lived objects, walked
    # again by every full collection); each freezes what its imports made, then collects.
    gc.disable()
    early = _fork_discovery(args)
    try:
        with _executor(args) as executor:  # Ray starts while this process imports
            return _benchmark(args, console, early, out, executor)
    finally:
        if early is not None:  # run_suite stops the child; this covers errors before it
            process, conn = early
            if process.is_alive():
                process.terminate()
            process.join(timeout=5)
            conn.close()


def _benchmark(args: argparse.Namespace, console: Console, early, out: Path, executor) -> int:
    if args.device != "cuda" and (os.cpu_count() or 1) > 1:
        threading.Thread(target=_build_kernels, daemon=True).start()
    from symact.experiments import DataCache, run_suite
    from symact.experiments.background import DiscoveryProcess
    from symact.report.outputs import save_suite, write_outputs
    from symact.training import resolve_device

    gc.freeze()
    gc.enable()
    device = str(resolve_device(args.device))
    suite = _make_suite(args)
    data = DataCache(args.data_dir)
    note_file_datasets(console, data, suite.datasets)
    for note in activation_notes(suite.activations):
        say(console, f"note {note}", "yellow")
    store_path = out / "symact.sqlite"
    start = time.perf_counter()
    with open_results_store(out, executor, wait=args.wait) as store:
        before = store.count()
        try:
            with _progress(console) as progress:
                outcome = run_suite(
                    suite,
                    store,
                    data,
                    device=device,
                    progress=_on_progress(progress),
                    head_start=None if early is None else DiscoveryProcess.adopt(*early),
                    executor=executor,
                    retry_failed=args.retry_failed,
                )
            save_suite(outcome, store)
            table = write_outputs(store, out)
        except KeyboardInterrupt as exc:
            kept = store.count() - before
            what = "Terminated" if isinstance(exc, _Terminated) else "Interrupted"
            say(
                console,
                f"\n{what}. {kept} run(s) finished in this session are kept in "
                f"{store_path} ({store.count()} stored in all). Run the same command again to "
                "continue where it stopped.",
                "yellow",
            )
            return EXIT_INTERRUPTED
    seconds = time.perf_counter() - start
    for (name, seed, split), disc in sorted(outcome.discoveries.items(), key=str):
        tag = f" (discovery seed {seed})" if len(suite.gp_seeds) > 1 else ""
        tag += "" if split is None else f" (training part of split {split})"
        say(
            console,
            f"{outcome.labels[name]}{tag}: {disc.program}  ->  activation {disc.activation}",
        )
    say(console, table)
    s = outcome.summary
    say(
        console,
        f"{s.total} runs: {s.trained} trained, {s.skipped} already stored, {s.failed} failed; "
        f"{seconds:.1f} s in all. Outputs in {out}/ (report.html)",
    )
    if s.first_failure:
        say(console, f"first failure: {s.first_failure}", "yellow")
    if s.failed_stored > s.failed:
        say(
            console,
            f"{s.failed_stored} of the {s.total} stored runs failed (see runs.csv); "
            "--retry-failed trains them again",
            "yellow",
        )
    return 0


@contextlib.contextmanager
def _executor(args: argparse.Namespace):
    """The executor ``--executor`` names (None: the runner's local threads). Ray starts in
    the background; ``--device`` is resolved when the grid starts, as the runner does."""
    if args.executor != "ray":
        yield None
        return
    from symact.experiments.ray_executor import RayExecutor

    with RayExecutor.connect(args.ray_address, device=args.device) as executor:
        yield executor


# ------------------------------------------------------------------------------ others


def cmd_report(args: argparse.Namespace, console: Console) -> int:
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


def cmd_discover(args: argparse.Namespace, console: Console) -> int:
    settings = _gplearn_settings(args)
    if args.labels == "all":
        raise UsageError("--labels all: gplearn discovery fits binary tasks only")
    from symact.data import load_dataset
    from symact.discovery import FITNESS, discover_with

    if args.suite is not None:
        from symact.experiments.datacache import DataCache

        entry = _suite_entry(args)
        ds = DataCache(args.data_dir).dataset(entry)
    else:
        options = {k: v for k, v in _file_options(args).items()}
        ds = load_dataset(args.dataset, data_dir=args.data_dir, rows=args.rows, **options)
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


def _suite_entry(args: argparse.Namespace):
    """The entry of ``--suite`` that ``--dataset`` names (its source, path, file name or
    table label), with ``--rows`` applied; the data flags belong to the file then."""
    from dataclasses import replace

    from symact.experiments.suite_file import load_suite_file, suite_file_path
    from symact.experiments.suites import dataset_label

    for flag, value in (("--target", args.target), ("--positive", args.positive)):
        if value is not None:
            raise UsageError(f"{flag}: the suite file sets it for each dataset; remove the flag")
    found = load_suite_file(suite_file_path(args.suite), args.data_dir)
    wanted = args.dataset.strip()
    for spec in found.datasets:
        path = Path(spec.name)
        names = {spec.name, path.name, path.name.split(".", 1)[0], dataset_label(spec.name)}
        if wanted in names or wanted.upper() == dataset_label(spec.name):
            return spec if args.rows is None else replace(spec, rows=args.rows)
    known = ", ".join(Path(d.name).name for d in found.datasets)
    raise UsageError(f"--dataset {wanted!r} is not an entry of {found.path}; its entries: {known}")


def cmd_datasets(args: argparse.Namespace, console: Console) -> int:
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


def cmd_search(args: argparse.Namespace, console: Console) -> int:
    from symact.search.cli import cmd_search as search

    return search(args, console)


COMMANDS = {
    "benchmark": cmd_benchmark,
    "search": cmd_search,
    "report": cmd_report,
    "discover": cmd_discover,
    "datasets": cmd_datasets,
}


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C: finished work is kept and the command says so."""


def _on_sigterm(signum, frame) -> None:
    raise _Terminated()


def _bug_folder(args: argparse.Namespace) -> Path | None:
    """Where a bug's traceback goes: the command's results folder, where it exists."""
    folder = getattr(args, "out", None) or getattr(args, "folder", None)
    if folder and str(folder).strip() and Path(folder).is_dir():
        return Path(folder)
    return None


def report_bug(exc: BaseException, folder: Path | None) -> str:
    """Write ``exc``'s traceback to ``symact-error-<timestamp>.log`` in ``folder`` (else the
    temp folder) and return the one line that says it is a bug in symact and where the
    traceback is. A bug must not read as bad input, nor lose the evidence to fix it."""
    import tempfile
    import traceback

    text = "".join(traceback.format_exception(exc))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"symact-error-{stamp}-{os.getpid()}.log"
    summary = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    for where in (folder, Path(tempfile.gettempdir())):
        if where is None:
            continue
        path = where / name
        try:
            path.write_text(text, encoding="utf-8")
        except OSError:
            continue
        return (
            f"this is a bug in symact, not a problem with your input ({summary}); the full "
            f"traceback is in {path}; please report it with that file"
        )
    sys.stderr.write(text)  # no folder would take the file: the traceback itself, then
    return f"this is a bug in symact ({summary}); its traceback is printed above"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    handles = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if handles else None
    try:
        return COMMANDS[args.command](args, console)
    except KeyboardInterrupt as exc:
        what = "Terminated" if isinstance(exc, _Terminated) else "Interrupted"
        say(err, f"{what}. Finished runs are kept; run the same command again to continue.")
        return EXIT_INTERRUPTED
    except UserError as exc:
        from symact.data.errors import render_error

        say(err, f"error: {render_error(exc, 'cli')}", "red")
        return EXIT_USAGE
    except Exception as exc:  # not the user's doing: say so, and keep the traceback
        say(err, f"error: {report_bug(exc, _bug_folder(args))}", "red")
        return EXIT_BUG
    finally:
        if handles:
            signal.signal(signal.SIGTERM, previous)


def run() -> None:
    """The console entry point: ``main()`` as the process's exit status.

    The process ends with ``os._exit`` once stdout and stderr are flushed: by then the
    results store is closed and every output file written, and the interpreter's own
    shutdown (tearing down torch, matplotlib, pandas modules) takes ~0.7 s that buys nothing.
    After Ctrl-C it also means no shutdown step can turn the handled interrupt back into
    death-by-SIGINT (seen, rarely, with CPython 3.11).
    """
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    run()
