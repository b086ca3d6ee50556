"""What every command that trains does around its work, once: the executor it trains on,
the results store it opens (only once the executor is ready), notes on its data, a progress
bar, and what Ctrl-C or SIGTERM says (finished work is kept; the same command continues).

User text (paths, formulas) is never passed through rich markup: :func:`say` prints it
literally.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

T = TypeVar("T")


def say(console: Console, text: str, style: str | None = None) -> None:
    """Print user-facing text literally: never as markup, never highlighted."""
    console.print(Text(text, style=style or ""), soft_wrap=True, highlight=False)


def progress_bar(
    console: Console,
    description: str,
    count: str,
    *,
    rate: ProgressColumn | None = None,
    best: ProgressColumn | None = None,
) -> Progress:
    """A command's progress bar: its description, the bar, ``count`` (a rich template of
    done/total), ``rate``, time elapsed and ETA, then ``best`` (what is best so far)."""
    columns = [TextColumn(description, markup=False), BarColumn(), TextColumn(count, markup=False)]
    columns += [rate] if rate is not None else []
    columns += [TimeElapsedColumn(), TextColumn("ETA", markup=False), TimeRemainingColumn()]
    columns += [best] if best is not None else []
    return Progress(*columns, console=console, transient=False)


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C: finished work is kept and the command says so."""


def on_sigterm(signum, frame) -> None:
    raise Terminated()


def stopped_by(exc: KeyboardInterrupt) -> str:
    """How a stop is told: Terminated (SIGTERM) or Interrupted (Ctrl-C)."""
    return "Terminated" if isinstance(exc, Terminated) else "Interrupted"


@contextlib.contextmanager
def executor_of(args: argparse.Namespace):
    """The executor ``--executor`` names (None: the runner's local threads). Ray starts in
    the background; ``--device`` is resolved when the grid starts, as the runner does."""
    if args.executor != "ray":
        yield None
        return
    from symact.experiments.ray_executor import RayExecutor

    with RayExecutor.connect(args.ray_address, device=args.device) as executor:
        yield executor


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


def work_in_store(
    console: Console,
    out: Path,
    executor,
    work: Callable[[object], T],
    stopped: Callable[[str, int, int, Path], str],
    *,
    wait: bool = False,
) -> T | None:
    """``work(store)`` on ``out``'s results store; None if Ctrl-C or SIGTERM stopped it,
    after saying ``stopped(what, kept, stored, path)``: ``what`` Interrupted or Terminated,
    ``kept`` the runs finished in this session, ``stored`` all runs in the store."""
    path = out / "symact.sqlite"
    with open_results_store(out, executor, wait=wait) as store:
        before = store.count()
        try:
            return work(store)
        except KeyboardInterrupt as exc:
            stored = store.count()
            say(console, "\n" + stopped(stopped_by(exc), stored - before, stored, path), "yellow")
            return None


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


def prebuild_kernels() -> None:
    """Compile the fused kernels (a no-op once they are cached). Failures surface later,
    where training loads them, naming what failed."""
    from symact.training import kernels

    with contextlib.suppress(Exception):
        kernels.prebuild()


def bug_folder(args: argparse.Namespace) -> Path | None:
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
