"""The ``symact`` command: benchmark suites, one-off discovery, and the dataset registry.

Every subcommand validates its arguments here, at the edge, and turns the library's
``ValueError`` family into one readable line and exit status 2; Ctrl-C during a benchmark
exits 130 after saying how to resume.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def _name_list(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _add_gplearn_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("discovery (gplearn; defaults are the paper's)")
    g.add_argument("--generations", type=_positive_int, default=5)
    g.add_argument("--population-size", type=_positive_int, default=500)
    g.add_argument("--subsample", type=float, default=0.1, help="fraction of rows (0.1)")
    g.add_argument("--gp-seed", type=int, default=42, help="random_state of gplearn (42)")
    g.add_argument(
        "--function-set",
        type=lambda text: tuple(v.lower() for v in _name_list(text)),
        default=None,
        help="comma-separated gplearn functions (add,sub,mul,sin,cos,abs)",
    )
    g.add_argument(
        "--gp-jobs",
        type=int,
        default=1,
        help="gplearn n_jobs; the program found is the same for any value (1)",
    )


def _gplearn_settings(args: argparse.Namespace):
    from symact.discovery import PAPER_FUNCTION_SET, GplearnSettings

    return GplearnSettings(
        subsample=args.subsample,
        seed=args.gp_seed,
        generations=args.generations,
        population_size=args.population_size,
        function_set=tuple(args.function_set or PAPER_FUNCTION_SET),
        n_jobs=args.gp_jobs,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symact",
        description="Discover activation functions as formulas and benchmark them.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    b = sub.add_parser("benchmark", help="run a benchmark suite (the paper's, or builtin)")
    b.add_argument("--suite", choices=["paper", "builtin"], default="paper")
    b.add_argument("--data-dir", default=None, help="folder holding the dataset files")
    b.add_argument("--out", default="results", help="output folder (results/)")
    b.add_argument("--datasets", type=_name_list, default=None, help="comma-separated names")
    b.add_argument("--seeds", type=_int_list, default=(42, 43, 44))
    b.add_argument("--epochs", type=_positive_int, default=15)
    b.add_argument("--rows", type=_positive_int, default=100_000, help="rows per dataset")
    b.add_argument("--device", default="auto", help="auto, cpu or cuda")
    _add_gplearn_options(b)

    d = sub.add_parser("discover", help="discover an activation formula on one dataset")
    d.add_argument("--dataset", required=True, help="registry name or a CSV/Parquet path")
    d.add_argument("--target", default=None, help="label column of a CSV/Parquet file")
    d.add_argument("--positive", default=None, help="label value of the positive class")
    d.add_argument("--data-dir", default=None)
    d.add_argument("--rows", type=_positive_int, default=None)
    _add_gplearn_options(d)

    ds = sub.add_parser("datasets", help="list the dataset registry and what is cached")
    ds.add_argument("--data-dir", default=None)
    return parser


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description:<24}"),
        BarColumn(),
        TextColumn("{task.completed:>6.0f}/{task.total:<6.0f}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def _build_baseline_kernels() -> None:
    """Compile the fused kernels every suite needs (ReLU, GELU, SiLU) on a spare core while
    the main thread is still importing; a no-op once they are cached. Failures surface
    later, where training loads the kernels."""
    from symact.formula import make_activation
    from symact.training import kernels

    with contextlib.suppress(Exception):
        kernels.prebuild(make_activation(name) for name in ("relu", "gelu", "silu"))


def _make_suite(args: argparse.Namespace):
    from symact.experiments import make_suite
    from symact.training import TrainConfig

    return make_suite(
        args.suite,
        datasets=args.datasets,
        rows=args.rows,
        seeds=args.seeds,
        train=TrainConfig(epochs=args.epochs),
        discovery=_gplearn_settings(args),
    )


def _discovery_child(args: argparse.Namespace, conn) -> None:
    """Runs in the early-forked child: build the suite's missing discoveries and serve them."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
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
    run; the child's own imports, data loading and gplearn fill the other core meanwhile
    (saves ~2 s of a ~20 s paper suite on 2 cores). Returns ``(process, connection)`` for
    ``DiscoveryProcess.adopt``, or None where fork or a second core is missing (the suite
    then discovers as usual). Same conditions as ``background.can_run_in_background``, whose
    module cannot be imported yet without the imports this avoids.
    """
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods() or (os.cpu_count() or 1) < 2:
        return None
    ctx = multiprocessing.get_context("fork")
    conn, child_end = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_discovery_child, args=(args, child_end), daemon=True)
    process.start()
    child_end.close()
    return process, conn


def cmd_benchmark(args: argparse.Namespace, console: Console) -> int:
    # numpy's and scipy's OpenBLAS start a thread per core that spins after each call; torch
    # (MKL) does the heavy arithmetic here, so they only take CPU from the training threads.
    # Set before numpy is first imported (by this process or the discovery child); an
    # explicit setting of the user's wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # No garbage collection while both processes import (~300k long-lived objects, walked
    # again by every full collection); each freezes what its imports made, then collects.
    gc.disable()
    early = _fork_discovery(args)
    try:
        return _benchmark(args, console, early)
    finally:
        if early is not None:  # run_suite stops the child; this covers errors before it
            process, conn = early
            if process.is_alive():
                process.terminate()
            process.join(timeout=5)
            conn.close()


def _benchmark(args: argparse.Namespace, console: Console, early) -> int:
    if args.device != "cuda" and (os.cpu_count() or 1) > 1:
        threading.Thread(target=_build_baseline_kernels, daemon=True).start()
    from symact.experiments import DataCache, ResultsStore, run_suite
    from symact.experiments.background import DiscoveryProcess
    from symact.report.outputs import write_suite_outputs
    from symact.training import resolve_device

    # The ~300k objects the imports made live for the whole run; frozen, the run's few full
    # garbage collections skip them (~0.1 s each otherwise, holding the GIL that the
    # training threads need between their C calls).
    gc.freeze()
    gc.enable()
    device = str(resolve_device(args.device))
    suite = _make_suite(args)
    out = Path(args.out)
    store_path = out / "symact.sqlite"
    start = time.perf_counter()
    with ResultsStore(store_path) as store:
        before = store.count()
        bars: dict[str, int] = {}
        try:
            with _progress(console) as progress:

                def on_progress(desc: str, done: int, total: int) -> None:
                    key = "discovery" if desc.startswith("discovery") else desc
                    if key not in bars:
                        bars[key] = progress.add_task(desc, total=max(total, 1))
                    progress.update(
                        bars[key], description=desc, completed=done, total=max(total, 1)
                    )

                outcome = run_suite(
                    suite,
                    store,
                    DataCache(args.data_dir),
                    device=device,
                    progress=on_progress,
                    head_start=None if early is None else DiscoveryProcess.adopt(*early),
                )
        except KeyboardInterrupt:
            kept = store.count() - before
            console.print(
                f"\n[yellow]Interrupted.[/] {kept} run(s) finished in this session are kept "
                f"in {store_path} ({store.count()} stored in all). Run the same command again "
                "to continue where it stopped."
            )
            return EXIT_INTERRUPTED
        table = write_suite_outputs(outcome, store, out)
    seconds = time.perf_counter() - start
    for name, provenance in outcome.data_provenance.items():
        for note in provenance["notes"]:
            console.print(f"[yellow]note[/] {outcome.labels[name]}: {note}")
    for name, disc in outcome.discoveries.items():
        console.print(
            f"{outcome.labels[name]}: {disc.program}  ->  activation {disc.activation}",
            markup=False,
            soft_wrap=True,
        )
    console.print(table, markup=False, highlight=False, soft_wrap=True)
    s = outcome.summary
    console.print(
        f"{s.total} runs: {s.trained} trained, {s.skipped} already stored, {s.failed} failed; "
        f"{seconds:.1f} s in all. Outputs in {out}/"
    )
    return 0


def cmd_discover(args: argparse.Namespace, console: Console) -> int:
    from symact.data import load_dataset
    from symact.discovery import discover_gplearn

    ds = load_dataset(
        args.dataset,
        data_dir=args.data_dir,
        rows=args.rows,
        target=args.target,
        positive=args.positive,
    )
    found = discover_gplearn(ds.X, ds.y, dataset=ds.display_name, settings=_gplearn_settings(args))
    record = found.to_dict()
    console.print(
        f"dataset     {ds.display_name} ({ds.n_rows} rows, {ds.n_features} features)",
        highlight=False,
    )
    for key in ("program", "activation", "simplified", "latex"):
        console.print(f"{key:<11} {record[key]}", markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"fitness     {found.fitness:.6f} (log loss, {found.n_samples} rows, "
        f"{found.seconds:.1f} s)",
        highlight=False,
    )
    return 0


def cmd_datasets(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

    from symact.data import dataset_table

    table = Table(title="symact datasets", show_lines=True)
    for column in ("name", "domain", "rows", "features", "cached"):
        table.add_column(column, no_wrap=True)
    table.add_column("label and file")
    for row in dataset_table(data_dir=args.data_dir):
        rows = "all" if row["rows"] is None else f"{row['rows']:,}"
        where = f"\n{row['path']}" if row["path"] else ""
        table.add_row(
            f"{row['name']}\n{row['display_name']}",
            row["domain"],
            f"{rows}\nof {row['rows_full']:,}",
            str(row["features"]),
            "yes" if row["cached"] else "no",
            f"{row['label_rule']}{where}",
        )
    console.print(table)
    return 0


COMMANDS = {"benchmark": cmd_benchmark, "discover": cmd_discover, "datasets": cmd_datasets}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    try:
        return COMMANDS[args.command](args, console)
    except KeyboardInterrupt:
        err.print("Interrupted.")
        return EXIT_INTERRUPTED
    except (ValueError, FileNotFoundError, OSError) as exc:
        err.print(f"[red]error:[/] {exc}", markup=True)
        return EXIT_USAGE


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
