"""``symact search``: its options, their checks before any work, and the command.

Kept beside the search (not in ``symact/cli.py``) so that the search's options live with
the settings they fill; ``symact.cli`` registers the subcommand and shares its checks,
progress and error handling.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import time
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def time_limit(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``2h`` -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if m is None:
        raise argparse.ArgumentTypeError(f"expected a duration like 90s, 15m or 2h, got {text!r}")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def add_search_parser(sub) -> None:
    from symact.cli import (
        _add_data_options,
        _add_executor_options,
        _add_gplearn_options,
        positive_int,
    )

    s = sub.add_parser(
        "search",
        help="search activations by training them inside the network, then judge the best",
    )
    s.add_argument("--dataset", required=True, help="registry name or a CSV/Parquet path")
    s.add_argument("--out", default="results-search", help="output folder")
    s.add_argument("--seed", default="0", help="the search's seed; also draws the test part")
    s.add_argument("--budget", type=positive_int, default=1000, help="candidates to train")
    s.add_argument(
        "--time-limit",
        type=time_limit,
        default=None,
        help="stop after this long (e.g. 15m; default: no limit)",
    )
    s.add_argument("--epochs", type=positive_int, default=3, help="epochs per candidate")
    s.add_argument("--search-seeds", type=positive_int, default=2, help="seeds per candidate")
    s.add_argument("--top", type=positive_int, default=3, help="finalists judged on test")
    s.add_argument(
        "--rerank",
        type=positive_int,
        default=30,
        help="the best candidates scored again on validation at --final-epochs, "
        "from which the finalists are chosen",
    )
    s.add_argument("--final-epochs", type=positive_int, default=15, help="epochs of the verdict")
    s.add_argument("--final-seeds", type=positive_int, default=10, help="seeds of the verdict")
    s.add_argument(
        "--population",
        type=positive_int,
        default=64,
        help="population of the aging evolution: the last N candidates trained, from which "
        "parents are drawn",
    )
    s.add_argument(
        "--tournament",
        type=positive_int,
        default=8,
        help="candidates drawn per tournament; the fittest becomes a parent (2 to --population)",
    )
    s.add_argument(
        "--operators",
        default=None,
        help="comma-separated operators of the search space (default: the "
        "activation primitives and arithmetic)",
    )
    s.add_argument("--max-size", type=positive_int, default=15, help="nodes per formula")
    s.add_argument(
        "--learnable-constants",
        action="store_true",
        help="train each candidate's constants with the weights",
    )
    s.add_argument(
        "--specialist",
        action="store_true",
        help="put the dataset's gplearn formula in the first generation",
    )
    s.add_argument(
        "--no-specialist-baseline",
        action="store_true",
        help="leave the gplearn Specialist out of the verdict's baselines",
    )
    s.add_argument(
        "--evaluate-on",
        default=None,
        help="other datasets on which the finalists get the same verdict",
    )
    s.add_argument("--widths", default="64,32", help="the searched network's widths")
    s.add_argument(
        "--retry-failed",
        action="store_true",
        help="train every stored failed run again (runs that failed for a transient reason, "
        "such as a lost worker or memory, are retried anyway)",
    )
    _add_data_options(s)
    _add_executor_options(s)
    _add_gplearn_options(s)
    s.set_defaults(rows=None)


def search_plan(args: argparse.Namespace):
    """Every check that needs no data; returns (data spec, evaluate-on specs, settings, gp)."""
    from symact.cli import (
        UsageError,
        _file_options,
        _gplearn_settings,
        check_datasets,
        check_device,
        name_list,
        seed_list,
        width_list,
    )
    from symact.data.registry import resolve_name
    from symact.experiments.specs import DataSpec
    from symact.formula import FormulaError
    from symact.models import ModelSpec
    from symact.search.evolution import SearchSettings
    from symact.search.space import DEFAULT_OPERATORS, SearchSpace

    check_device(args.device)
    (seed,) = seed_list(args.seed, "--seed")
    names = [args.dataset] + (
        list(name_list(args.evaluate_on, "--evaluate-on")) if args.evaluate_on else []
    )
    check_datasets(names, args, ["--dataset"] + ["--evaluate-on"] * (len(names) - 1))
    canonical = [resolve_name(n) or n for n in names]
    if len(set(canonical)) != len(canonical):
        raise UsageError("--evaluate-on names the --dataset (or one dataset twice); list others")
    rows = args.rows if args.rows is not None else 20_000
    opts = _file_options(args)

    def spec(name: str) -> DataSpec:
        is_file = resolve_name(name) is None
        return DataSpec(
            resolve_name(name) or name, rows=rows, labels=args.labels, **(opts if is_file else {})
        )

    operators = DEFAULT_OPERATORS
    if args.operators is not None:
        operators = name_list(args.operators, "--operators")
    if args.max_size < 2:
        raise UsageError(
            f"--max-size must be at least 2, got {args.max_size}: a one-node formula is x or a "
            "constant, both rejected as degenerate"
        )
    if args.rerank < args.top:
        raise UsageError(
            f"--rerank ({args.rerank}) must be at least --top ({args.top}): the finalists are "
            "chosen among the reranked candidates"
        )
    if args.final_seeds < 3:
        raise UsageError(
            f"--final-seeds must be at least 3, got {args.final_seeds}: the verdict's paired "
            "tests need three seeds (10 is the default)"
        )
    try:
        space = SearchSpace(operators=tuple(operators), max_size=args.max_size)
    except (FormulaError, ValueError) as exc:
        raise UsageError(f"--operators: {exc}") from None
    if args.tournament > args.population:
        raise UsageError("--tournament cannot exceed --population")
    if args.specialist and args.labels == "all":
        raise UsageError(
            "--specialist: gplearn's discovery is binary, so --labels all has no Specialist; "
            "leave out --specialist"
        )
    from symact.training import TrainConfig

    settings = SearchSettings(
        seed=seed,
        budget=args.budget,
        population=args.population,
        tournament=args.tournament,
        epochs=args.epochs,
        search_seeds=tuple(range(1, 1 + args.search_seeds)),
        final_epochs=args.final_epochs,
        final_seeds=tuple(range(1001, 1001 + args.final_seeds)),
        top=args.top,
        rerank=args.rerank,
        learnable_constants=args.learnable_constants,
        specialist=args.specialist,
        space=space,
        light=ModelSpec(hidden=width_list(args.widths, "--widths")),
        train=TrainConfig(),
        time_limit=args.time_limit,
    )
    gp = None if (args.no_specialist_baseline and not args.specialist) else _gplearn_settings(args)
    return spec(names[0]), tuple(spec(n) for n in names[1:]), settings, gp


def _bar(console: Console) -> Progress:
    """The search's bar on a terminal."""
    return Progress(
        TextColumn("{task.description:<10}", markup=False),
        BarColumn(),
        TextColumn("{task.completed:>5.0f}/{task.total:<5.0f}", markup=False),
        TextColumn("{task.fields[rate]}", markup=False),
        TimeElapsedColumn(),
        TextColumn("ETA", markup=False),
        TimeRemainingColumn(),
        TextColumn("{task.fields[best]}", markup=False),
        console=console,
    )


@dataclass
class SearchProgress:
    """How far the search is, in candidates: the one number its bar, its plain lines and its
    interrupt message speak of."""

    trained: int = 0
    budget: int = 0

    def line(self, best, seconds: float) -> str:
        """One plain line: where output is not a terminal (a file, a pipe, a CI log), a bar
        rewritten in place with carriage returns would be garbled, or shown only at the end."""
        rate = 60 * self.trained / max(seconds, 1e-9)
        shown = "" if best is None else f"; best {best.fitness:.4f} {best.formula}"
        return (
            f"search: {self.trained}/{self.budget} candidates trained, {rate:,.0f}/min, "
            f"{_clock(seconds)} elapsed{shown}"
        )


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}"


#: Plain progress lines come at least this far apart (and after the last batch).
PLAIN_EVERY_S = 10.0


@contextlib.contextmanager
def search_progress(console: Console, state: SearchProgress):
    """The callback the search calls after every batch: it draws a bar on a terminal and
    plain lines elsewhere, and counts candidates in ``state`` either way."""
    from symact.cli import say

    if console.is_terminal:
        with _bar(console) as bar:
            task = bar.add_task("search", total=state.budget, rate="", best="")

            def draw(trained, total, best, seconds):
                state.trained, state.budget = trained, total
                rate = f"{60 * trained / max(seconds, 1e-9):,.0f}/min"
                shown = "" if best is None else f"best {best.fitness:.4f} {best.formula}"
                bar.update(task, completed=trained, total=total, rate=rate, best=shown[:60])

            yield draw
        return
    last = [-PLAIN_EVERY_S]

    def write(trained, total, best, seconds):
        state.trained, state.budget = trained, total
        if seconds - last[0] >= PLAIN_EVERY_S or trained >= total:
            last[0] = seconds
            say(console, state.line(best, seconds))

    yield write


def cmd_search(args: argparse.Namespace, console: Console) -> int:
    from symact.cli import _executor, checked_out_and_executor

    data, others, settings, gp = search_plan(args)
    out = checked_out_and_executor(args)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    with _executor(args) as executor:  # Ray starts while this process imports and loads data
        return _search(args, console, data, others, settings, gp, out, executor)


def _search(args, console, data, others, settings, gp, out, executor) -> int:
    from symact.cli import EXIT_INTERRUPTED, note_file_datasets, open_results_store, say
    from symact.experiments import DataCache
    from symact.search.outputs import save_search, write_search_outputs
    from symact.search.runner import run_search
    from symact.training import kernels, resolve_device

    device = str(resolve_device(args.device))
    cache = DataCache(args.data_dir)
    note_file_datasets(console, cache, (data, *others))
    with contextlib.suppress(Exception):
        kernels.prebuild()
    store_path = out / "symact.sqlite"
    start = time.perf_counter()
    with open_results_store(out, executor, wait=args.wait) as store:
        before = store.count()
        state = SearchProgress(budget=settings.budget)
        try:
            with search_progress(console, state) as progress:
                outcome = run_search(
                    data,
                    settings,
                    store,
                    cache,
                    gplearn=gp,
                    evaluate_on=others,
                    device=device,
                    executor=executor,
                    progress=progress,
                    phase=lambda text: say(console, text),
                    retry_failed=args.retry_failed,
                    engine=args.engine,
                )
            save_search(outcome, store)
            table = write_search_outputs(store, out)
        except KeyboardInterrupt:
            say(
                console,
                f"\nInterrupted at {state.trained}/{state.budget} candidates trained: their "
                f"training runs are kept in {store_path} ({store.count() - before} finished in "
                "this session). Run the same command again to continue the same search.",
                "yellow",
            )
            return EXIT_INTERRUPTED
    seconds = time.perf_counter() - start
    st = outcome.state
    counts: dict[str, int] = {}
    for c in st.candidates:
        counts[c.status] = counts.get(c.status, 0) + 1
    statuses = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    say(console, f"{len(st.candidates)} candidates proposed ({statuses}); {st.stopped}")
    say(console, verdict_text(table))
    from symact.search.verdict import conclusion

    metric = "AUC" if outcome.entries and outcome.entries[0].n_classes <= 2 else "accuracy"
    for label in dict.fromkeys(table["dataset"]):
        say(console, conclusion(table.to_dict("records"), label, metric))
    from symact.search.outputs import SEARCH_REPORT

    say(console, f"{seconds:.1f} s in all. Outputs in {out}/ ({SEARCH_REPORT}, search_results.csv)")
    return 0


SHOWN = (
    "dataset",
    "activation",
    "formula",
    "val_score",
    "test_auc_mean",
    "test_acc_mean",
    "n_seeds",
    "n_failed",
    "diff_vs_best_baseline",
    "ci_low",
    "ci_high",
    "p_holm",
)


def verdict_text(table) -> str:
    """The verdict for the terminal: long formulas shortened (search_results.csv has them)."""
    shown = table[list(SHOWN)].copy()
    shown["formula"] = [f if len(f) <= 40 else f[:37] + "..." for f in shown["formula"]]
    return shown.to_string(index=False, float_format=lambda v: f"{v:.4f}")
