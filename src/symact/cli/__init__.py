"""The ``symact`` command: benchmark suites, activation search, reports, discovery, datasets.

Every subcommand validates its arguments at the edge (``checks``), before any heavy import
or any work: a bad flag, token, file, column or folder is one line naming it and how to fix
it, and exit status 2. The library's user errors (``symact.errors.UserError``: data,
formula, store, Ray) become such a line too (data-stage errors spell their options as
flags, ``--positive``). Any other exception is a bug in symact: one line saying so and
naming the file that holds its traceback (in ``--out`` where it exists, else the temp
folder), exit status 1. Ctrl-C or SIGTERM exits 130 after saying what is kept and how to
resume.

Layout: ``options`` (option groups several commands share, the parser classes),
``checks`` (flags checked before heavy imports), ``specs`` (flags turned into the
library's settings), ``session`` (executor, results store, progress, interrupts, bug
reports), and one module per command, each with ``add_parser(sub)`` and
``command(args, console)``. A command module imports none of the others.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Sequence

from rich.console import Console

from symact.cli import benchmark, datasets, discover, report, search
from symact.cli.checks import EXIT_BUG, EXIT_INTERRUPTED, EXIT_USAGE, UsageError
from symact.cli.options import CommandParser, Parser
from symact.cli.session import bug_folder, on_sigterm, report_bug, say, stopped_by
from symact.errors import UserError

__all__ = [
    "COMMANDS",
    "EXIT_BUG",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "UsageError",
    "build_parser",
    "main",
    "run",
]

#: each subcommand's module, in the order ``symact --help`` lists them
COMMANDS = {
    "benchmark": benchmark,
    "report": report,
    "discover": discover,
    "datasets": datasets,
    "search": search,
}


def _version() -> str:
    from symact import __version__

    return f"symact {__version__}"


def build_parser() -> CommandParser:
    parser = CommandParser(
        prog="symact",
        description="Discover activation functions as formulas and benchmark them.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in COMMANDS.values():
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    handles = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, on_sigterm) if handles else None
    try:
        return COMMANDS[args.command].command(args, console)
    except KeyboardInterrupt as exc:
        say(
            err,
            f"{stopped_by(exc)}. Finished runs are kept; run the same command again to continue.",
        )
        return EXIT_INTERRUPTED
    except UserError as exc:
        from symact.data.errors import render_error

        say(err, f"error: {render_error(exc, 'cli')}", "red")
        return EXIT_USAGE
    except Exception as exc:  # not the user's doing: say so, and keep the traceback
        say(err, f"error: {report_bug(exc, bug_folder(args))}", "red")
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
    import os

    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
