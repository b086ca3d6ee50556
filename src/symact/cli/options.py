"""Option groups that several commands share, and the parser every command's options go to.

A group is added by one function, so ``benchmark``, ``search`` and any next command spell
``--rows``, ``--executor`` or ``--generations`` the same way, with the same help and default.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from symact.cli.checks import EXIT_USAGE, fraction, positive_int


def add_data_options(p: argparse.ArgumentParser) -> None:
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


def add_executor_options(p: argparse.ArgumentParser) -> None:
    """Where stacks train, whether to wait for ``--out``, and whether to retry failed runs:
    the options of every command that trains into a results folder."""
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
    p.add_argument(
        "--retry-failed",
        action="store_true",
        help="train every stored failed run again (runs that failed for a transient reason, "
        "such as a lost worker or memory, are retried anyway)",
    )


def add_gplearn_options(p: argparse.ArgumentParser) -> None:
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


def add_training_options(p: argparse.ArgumentParser) -> None:
    """How every run of a grid trains, beyond its epochs."""
    g = p.add_argument_group("training")
    g.add_argument(
        "--optimizer", choices=["adam", "adamw"], default="adam", help="optimizer of every run"
    )
    g.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    g.add_argument("--weight-decay", type=float, default=0.0, help="weight decay")
    g.add_argument(
        "--batch-size", type=positive_int, default=1024, help="rows per optimizer step (>= 2)"
    )
    g.add_argument(
        "--patience",
        type=positive_int,
        default=None,
        help="with --epochs auto: epochs without a better validation loss before a model "
        "stops (default: 16)",
    )


class HelpFormatter(argparse.HelpFormatter):
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


class Parser(argparse.ArgumentParser):
    """argparse with its errors as one line, like every other error here (the usage it
    would print first is in ``--help``); subcommands' parsers are of this class too, and
    every one shows the defaults in its ``--help``."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see `{self.prog} --help`)\n")


class CommandParser(Parser):
    """The ``symact`` parser: alone, without a subcommand, it prints its help (to stdout)
    and exits 2, as a missing subcommand is a usage error to a script and the help is what
    a person typing ``symact`` wants to read."""

    def parse_known_args(self, args=None, namespace=None):
        given = sys.argv[1:] if args is None else list(args)
        if not given:
            self.print_help()
            self.exit(EXIT_USAGE)
        return super().parse_known_args(args, namespace)


def add_architecture_options(p: argparse.ArgumentParser) -> None:
    """The Light network's architecture: the MLP of the paper, or the residual MLP of
    Gorishniy et al. 2021 that tabular deep learning takes as its baseline."""
    g = p.add_argument_group("architecture")
    g.add_argument(
        "--arch",
        choices=("mlp", "resnet"),
        default="mlp",
        help="the Light network: mlp (the paper's), or resnet (Gorishniy et al. 2021's "
        "residual MLP; --widths is then WIDTH,INNER)",
    )
    g.add_argument(
        "--blocks",
        type=int,
        default=None,
        help="residual blocks of --arch resnet (default: 2)",
    )
