"""``symact benchmark``: a suite's grid (the paper's, builtin, a suite file's) trained into
a results folder, with each dataset's formula discovered by gplearn in a forked child while
this process imports."""

from __future__ import annotations

import argparse
import gc
import os
import threading
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from symact.cli.checks import (
    EXIT_INTERRUPTED,
    UsageError,
    activation_list,
    activation_notes,
    check_datasets,
    check_device,
    checked_out_and_executor,
    epochs_value,
    name_list,
    positive_int,
    seed_list,
)
from symact.cli.options import (
    add_architecture_options,
    add_data_options,
    add_executor_options,
    add_gplearn_options,
    add_training_options,
)
from symact.cli.session import (
    executor_of,
    note_file_datasets,
    prebuild_kernels,
    progress_bar,
    say,
    work_in_store,
)
from symact.cli.specs import file_options, gplearn_settings, model_spec, train_config


def add_parser(sub) -> None:
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
        type=epochs_value,
        default=None,
        help="training epochs per run, or auto: each model stops when its loss on a "
        "validation part of its training rows stops improving, its best epoch kept (default: "
        "auto for suite files and your own files, 15 for the paper's and builtin suites)",
    )
    b.add_argument(
        "--activations",
        default=None,
        help="Light activations: names or formulas, param:<one> for its per-neuron parametric "
        "form (default: relu,gelu,silu)",
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
    add_training_options(b)
    b.add_argument(
        "--reference",
        choices=["lightgbm"],
        default=None,
        help="also fit LightGBM's defaults on every dataset and seed's split, as context in "
        "the tables and figure (pip install 'symact[lightgbm]')",
    )
    add_architecture_options(b)
    add_data_options(b)
    add_executor_options(b)
    add_gplearn_options(b)


# ------------------------------------------------------------------------------ checks


def _seeds(args: argparse.Namespace) -> tuple[int, ...]:
    if args.seeds is not None and args.n_seeds is not None:
        raise UsageError("--seeds and --n-seeds both given; use one (--n-seeds 10 is 42-51)")
    if args.n_seeds is not None:
        return tuple(range(42, 42 + args.n_seeds))
    return seed_list(args.seeds) if args.seeds is not None else (42, 43, 44)


def plan(args: argparse.Namespace) -> dict:
    """Every check of ``symact benchmark`` that needs no data, and the suite options."""
    from symact.data.registry import resolve_name
    from symact.experiments.suites import BUILTIN_DATASETS, PAPER_DATASETS, dataset_label

    check_device(args.device)
    seeds = _seeds(args)
    epochs_given = args.epochs
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
    if epochs_given is None and (
        (found is not None and found.grid.epochs is None)
        or (found is None and any(resolve_name(n) is None for n in names))
    ):
        args.epochs = "auto"  # suite files and the user's own files train to convergence
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
    light = model_spec(args.widths, "--widths", arch=args.arch, blocks=args.blocks)
    heavy = model_spec(args.heavy_widths, "--heavy-widths", allow_none=True)
    train = train_config(args, epochs=args.epochs)
    settings = gplearn_settings(args)
    gp_seeds = tuple(range(settings.seed, settings.seed + args.discovery_seeds))
    options = dict(
        datasets=tuple(names),
        rows=args.rows,  # None: the registry's default (100,000 for HIGGS, covertype), files whole
        seeds=seeds,
        train=train,
        discovery=settings,
        activations=activations,
        light=light,
        heavy=heavy,
        discovery_method="none" if args.discovery == "none" else args.engine,
        discovery_seeds=gp_seeds if args.discovery_seeds > 1 else None,
        learnable_constants=args.learnable_constants,
        reference=reference(args.reference),
        discovery_part=args.discovery_part,
        labels=args.labels,
        **file_options(args),
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


# ------------------------------------------------------------------------------ the command


def command(args: argparse.Namespace, console: Console) -> int:
    args.plan = plan(args)
    out = checked_out_and_executor(args)
    # numpy's and scipy's OpenBLAS start a thread per core that spins after each call; torch
    # (MKL) does the heavy arithmetic here, so they only take CPU from the training threads.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # No garbage collection while both processes import (~300k long-lived objects, walked
    # again by every full collection); each freezes what its imports made, then collects.
    gc.disable()
    early = _fork_discovery(args)
    try:
        with executor_of(args) as executor:  # Ray starts while this process imports
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
        # on a spare core while the main thread still imports
        threading.Thread(target=prebuild_kernels, daemon=True).start()
    from symact.experiments import DataCache, run_suite
    from symact.experiments.background import DiscoveryProcess
    from symact.report.outputs import save_suite, stored_convergence_note, write_outputs
    from symact.training import resolve_device

    gc.freeze()
    gc.enable()
    device = str(resolve_device(args.device))
    suite = _make_suite(args)
    data = DataCache(args.data_dir)
    note_file_datasets(console, data, suite.datasets)
    for note in activation_notes(suite.activations):
        say(console, f"note {note}", "yellow")
    start = time.perf_counter()

    def work(store):
        with _bars(console) as progress:
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
        return outcome, table, stored_convergence_note(store)

    def stopped(what: str, kept: int, stored: int, path: Path) -> str:
        return (
            f"{what}. {kept} run(s) finished in this session are kept in {path} ({stored} "
            "stored in all). Run the same command again to continue where it stopped."
        )

    done = work_in_store(console, out, executor, work, stopped, wait=args.wait)
    if done is None:
        return EXIT_INTERRUPTED
    outcome, table, convergence = done
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
    if convergence:
        say(console, f"warning: {convergence}", "yellow")
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


def _bars(console: Console) -> Progress:
    """One bar per dataset's grid (and one for discovery), in model-epochs."""
    return progress_bar(
        console, "{task.description:<24}", "{task.completed:>6.0f}/{task.total:<6.0f} model-epochs"
    )


def _on_progress(progress: Progress):
    bars: dict[str, int] = {}

    def update(desc: str, done: int, total: int) -> None:
        key = "discovery" if desc.startswith("discovery") else desc
        if key not in bars:
            bars[key] = progress.add_task(desc, total=max(total, 1))
        progress.update(bars[key], description=desc, completed=done, total=max(total, 1))

    return update


# ------------------------------------------------------------------------------ discovery


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


def reference(model: str | None) -> str | None:
    """``--reference``, refused in one line when its package is missing."""
    if model is not None:
        from symact.experiments.reference import check_reference

        check_reference(model)
    return model
