"""``symact search``: its options, their checks before any work, and the command.

The search stage (``symact.search``) holds no command-line code: this module turns the
flags into its settings (``SearchSettings``), runs it and prints its verdict.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from dataclasses import dataclass

from rich.console import Console
from rich.progress import TextColumn

from symact.cli.checks import (
    EXIT_INTERRUPTED,
    UsageError,
    check_datasets,
    check_device,
    checked_out_and_executor,
    epochs_value,
    fraction,
    name_list,
    one_seed,
    positive_int,
    time_limit,
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
from symact.cli.specs import data_spec, gplearn_settings, model_spec, suite_entry, train_config


def add_parser(sub) -> None:
    s = sub.add_parser(
        "search",
        help="search activations by training them inside the network, then judge the best",
    )
    s.add_argument(
        "--dataset",
        default=None,
        help="registry name, openml:ID, a CSV/Parquet path, or an entry of --suite; several, "
        "comma-separated, are searched with one population, each candidate trained on every "
        "one (default with --suite: every entry not held out)",
    )
    s.add_argument(
        "--suite",
        default=None,
        help="a suite file whose entries --dataset and --evaluate-on name (each with its "
        "own target, positive class, dropped columns and missing-value policy)",
    )
    s.add_argument("--out", default="results-search", help="output folder")
    s.add_argument("--seed", default="0", help="the search's seed; also draws the test part")
    s.add_argument("--budget", type=positive_int, default=1000, help="candidates to train")
    s.add_argument(
        "--time-limit",
        type=time_limit,
        default=None,
        help="stop after this long (e.g. 15m; default: no limit)",
    )
    s.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help="epochs of the first rung, at which every candidate is trained (default: 3)",
    )
    s.add_argument("--search-seeds", type=positive_int, default=2, help="seeds per candidate")
    s.add_argument("--top", type=positive_int, default=3, help="finalists judged on test")
    s.add_argument(
        "--rungs",
        default=None,
        help="successive halving over training length: each rung's epochs, e.g. 3,9,15; "
        "every candidate trains at the first, the best 1/--eta of each rung go on to the "
        "next, the finalists are the best of the last (the verdict's epochs, fresh seeds, "
        "selection rows); the last may be auto. Default: --epochs, then x --eta while below "
        "15 (or below --final-epochs when that is a number), then --final-epochs (3,9,auto)",
    )
    s.add_argument(
        "--eta",
        type=positive_int,
        default=3,
        help="reduction factor of the rungs: the best 1/eta of each rung go on (default 3)",
    )
    s.add_argument(
        "--rerank",
        type=positive_int,
        default=30,
        help="at most this many candidates reach the last rung (--final-epochs), "
        "from which the finalists are chosen",
    )
    s.add_argument(
        "--final-epochs",
        type=epochs_value,
        default=None,
        help="epochs of the last rung and of the verdict, or auto: each model trains until "
        "its loss on a validation part of its training rows has not improved for --patience "
        "epochs (at most 300) and keeps its best epoch's weights (default: auto; 15 is the "
        "paper's fixed length)",
    )
    s.add_argument(
        "--select-seeds",
        type=positive_int,
        default=6,
        help="fresh seeds of the last rung, on which the finalists are chosen (default 6: "
        "among near-equal candidates, fewer make the choice one seed's luck)",
    )
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
    s.add_argument(
        "--holdout",
        default=None,
        help="datasets (entries of --suite) kept out of the search and the selection "
        "entirely and used only to judge the finalists: transfer, measured across them",
    )
    s.add_argument("--widths", default="64,32", help="the searched network's widths")
    s.add_argument(
        "--surrogate",
        choices=("off", "knn"),
        default="off",
        help="pre-screen proposals without training them: knn predicts a proposal's fitness "
        "from its values on N(0, 1) inputs (k nearest trained candidates) and leaves those "
        "predicted below the population's --surrogate-quantile untrained (default: off, "
        "every new proposal is trained); --budget counts trained candidates either way",
    )
    s.add_argument(
        "--surrogate-quantile",
        type=fraction,
        default=0.5,
        help="a proposal predicted below this quantile of the population's fitness is "
        "screened out (default: 0.5, the median)",
    )
    s.add_argument(
        "--surrogate-warmup",
        type=positive_int,
        default=64,
        help="candidates trained before the surrogate screens any (default: 64)",
    )
    add_data_options(s)
    add_architecture_options(s)
    add_executor_options(s)
    add_gplearn_options(s)
    add_training_options(s)
    s.set_defaults(rows=None)


def plan(args: argparse.Namespace):
    """Every check that needs no data; returns (searched specs, evaluate-on specs, held-out
    specs, settings, gp)."""
    from dataclasses import replace

    from symact.data.registry import resolve_name
    from symact.formula import FormulaError
    from symact.search.evolution import SearchSettings
    from symact.search.space import DEFAULT_OPERATORS, SearchSpace
    from symact.search.surrogate import SurrogateSettings

    check_device(args.device)
    seed = one_seed(args.seed, "--seed")
    searched, evaluate, held = dataset_names(args)
    names = [*searched, *evaluate, *held]
    flags = ["--dataset"] * len(searched) + ["--evaluate-on"] * len(evaluate)
    flags += ["--holdout"] * len(held)
    rows = args.rows if args.rows is not None else 20_000
    if args.suite is not None:
        specs = [suite_entry(args, name, flag) for name, flag in zip(names, flags, strict=True)]
        specs = [s if s.rows is not None else replace(s, rows=rows) for s in specs]
        canonical = [s.name for s in specs]
    else:
        check_datasets(names, args, flags)
        canonical = [resolve_name(n) or n for n in names]
        specs = [data_spec(name, args, rows) for name in names]
    check_distinct(canonical, flags, names)
    check_one_task([(n, s.labels) for n, s in zip(names, specs, strict=True)], flags)
    if args.specialist and len(searched) > 1:
        raise UsageError(
            "--specialist: a search over several datasets has one population, and a "
            "dataset's gplearn formula is that dataset's; leave out --specialist (each "
            "dataset's Specialist stays a baseline of its verdict)"
        )
    operators = DEFAULT_OPERATORS
    if args.operators is not None:
        operators = name_list(args.operators, "--operators")
    if args.max_size < 2:
        raise UsageError(
            f"--max-size must be at least 2, got {args.max_size}: a one-node formula is x or a "
            "constant, both rejected as degenerate"
        )
    epochs, middle, final = rung_ladder(args)
    if args.patience is not None and final != "auto":
        raise UsageError(
            f"--patience applies to a last rung trained to convergence (--final-epochs auto, "
            f"the default); the last rung here trains a fixed {final} epochs: drop --patience"
        )
    final_train = train_config(args, "auto" if final == "auto" else None)
    final_epochs = final_train.epochs if final == "auto" else final
    if args.rerank < args.top:
        raise UsageError(
            f"--rerank ({args.rerank}) must be at least --top ({args.top}): the finalists are "
            "chosen among the reranked candidates"
        )
    if args.select_seeds > MAX_SELECT_SEEDS:
        raise UsageError(
            f"--select-seeds must be at most {MAX_SELECT_SEEDS}, got {args.select_seeds}: the "
            f"last rung's seeds ({FIRST_SELECT_SEED}, ...) must stay apart from the verdict's "
            f"({FIRST_FINAL_SEED}, ...)"
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
    if args.surrogate_quantile >= 1.0:
        raise UsageError(
            "--surrogate-quantile must be below 1 (at 1 every proposal is screened out); "
            "0.5 is the default"
        )
    settings = SearchSettings(
        seed=seed,
        budget=args.budget,
        population=args.population,
        tournament=args.tournament,
        epochs=epochs,
        search_seeds=tuple(range(1, 1 + args.search_seeds)),
        final_epochs=final_epochs,
        final_patience=final_train.patience,
        select_seeds=tuple(range(FIRST_SELECT_SEED, FIRST_SELECT_SEED + args.select_seeds)),
        final_seeds=tuple(range(FIRST_FINAL_SEED, FIRST_FINAL_SEED + args.final_seeds)),
        top=args.top,
        eta=args.eta,
        rungs=middle,
        rerank=args.rerank,
        learnable_constants=args.learnable_constants,
        specialist=args.specialist,
        space=space,
        light=model_spec(args.widths, "--widths", arch=args.arch, blocks=args.blocks),
        train=replace(final_train, epochs=epochs, patience=None),
        time_limit=args.time_limit,
        surrogate=SurrogateSettings(
            args.surrogate, warmup=args.surrogate_warmup, quantile=args.surrogate_quantile
        ),
    )
    gp = None if (args.no_specialist_baseline and not args.specialist) else gplearn_settings(args)
    n, m = len(searched), len(searched) + len(evaluate)
    return tuple(specs[:n]), tuple(specs[n:m]), tuple(specs[m:]), settings, gp


def dataset_names(args: argparse.Namespace) -> tuple[list[str], list[str], list[str]]:
    """The names given to --dataset (default with --suite: every entry not held out),
    --evaluate-on and --holdout; a UsageError where none is searched."""
    evaluate = list(name_list(args.evaluate_on, "--evaluate-on")) if args.evaluate_on else []
    held = list(name_list(args.holdout, "--holdout")) if args.holdout else []
    if args.dataset is not None:
        return list(name_list(args.dataset, "--dataset")), evaluate, held
    if args.suite is None:
        raise UsageError(
            "--dataset: name the dataset to search (several, comma-separated, or --suite "
            "FILE to search every entry of a suite file)"
        )
    from symact.experiments.suite_file import load_suite_file, suite_file_path
    from symact.experiments.suites import dataset_label

    found = load_suite_file(suite_file_path(args.suite), args.data_dir)
    # the held-out names must be entries (suite_entry says so otherwise): compare entries
    out = {suite_entry(args, name, "--holdout").name for name in held}
    out |= {suite_entry(args, name, "--evaluate-on").name for name in evaluate}
    searched = [dataset_label(d.name) for d in found.datasets if d.name not in out]
    if not searched:
        raise UsageError(
            f"--holdout: every entry of {found.path} is held out (or evaluated on); leave at "
            "least one to search on"
        )
    return searched, evaluate, held


def check_distinct(canonical: list[str], flags: list[str], names: list[str]) -> None:
    """Every dataset once: a held-out one is never searched, the searched ones differ."""
    first: dict[str, int] = {}
    for i, name in enumerate(canonical):
        if name not in first:
            first[name] = i
            continue
        j = first[name]
        if flags[i] == "--holdout" and flags[j] == "--dataset":
            raise UsageError(
                f"--holdout {names[i]!r} is also searched (--dataset {names[j]!r}): a held-out "
                "dataset plays no part in the search; drop it from one of them"
            )
        if flags[i] == flags[j] == "--dataset":
            raise UsageError(f"--dataset names {names[i]!r} twice; list each dataset once")
        raise UsageError(
            f"{flags[i]} {names[i]!r} names the same dataset as {flags[j]} {names[j]!r}; "
            "list others"
        )


def check_one_task(labels: list[tuple[str, str]], flags: list[str]) -> None:
    """A search over several datasets (or with held-out ones) judges them on one metric:
    all binary (ROC AUC; the default) or all multi-class (``labels = "all"``: accuracy);
    both kinds together are refused, their normalized scores and differences being in two
    metrics. --evaluate-on datasets are judged on their own and may be of either kind."""
    pooled = [(n, lab) for (n, lab), f in zip(labels, flags, strict=True) if f != "--evaluate-on"]
    kinds: dict[str, list[str]] = {}
    for name, lab in pooled:
        kinds.setdefault(lab, []).append(name)
    if len(kinds) > 1:
        said = "; ".join(f"labels {k}: {', '.join(v)}" for k, v in sorted(kinds.items()))
        raise UsageError(
            "a search over several datasets needs them all binary or all multi-class "
            f"(labels all), got {said}; search and hold out datasets of one kind"
        )


def rung_ladder(
    args: argparse.Namespace,
) -> tuple[int, tuple[int, ...] | None, int | str]:
    """(first rung's epochs, the middle rungs' or None for the default, last rung's: a
    number or "auto") from --rungs, --epochs and --final-epochs, which --rungs replaces."""
    if args.eta < 2:
        raise UsageError(f"--eta must be at least 2, got {args.eta}: the best 1/eta go on")
    if args.rungs is None:
        epochs = 3 if args.epochs is None else args.epochs
        return epochs, None, "auto" if args.final_epochs is None else args.final_epochs
    given = [
        flag
        for flag, v in (("--epochs", args.epochs), ("--final-epochs", args.final_epochs))
        if v is not None
    ]
    if given:
        raise UsageError(
            f"--rungs sets the first and last rung's epochs; leave out {' and '.join(given)}"
        )
    tokens = [t.strip() for t in args.rungs.split(",")]
    last: int | str = "auto" if tokens[-1].lower() == "auto" else tokens[-1]
    try:
        ladder = [int(t) for t in tokens[:-1]]
        if last != "auto":
            ladder.append(int(last))
    except ValueError:
        ladder = []
    if len(tokens) < 2 or len(ladder) < len(tokens) - 1 or min(ladder, default=0) < 1:
        ladder = []
    if not ladder or ladder != sorted(set(ladder)):
        raise UsageError(
            f"--rungs: {args.rungs!r} is not a list of at least two increasing epoch counts, "
            "the last of which may be auto, e.g. 3,9,auto or 3,9,15"
        )
    if last == "auto":
        return ladder[0], tuple(ladder[1:]), "auto"
    return ladder[0], tuple(ladder[1:-1]), ladder[-1]


# ------------------------------------------------------------------------------ progress


@dataclass
class SearchProgress:
    """How far the search is, in candidates: the one number its bar, its plain lines and its
    interrupt message speak of."""

    trained: int = 0
    budget: int = 0
    stage: str = ""  # the phase line last shown ("rung 1 of 2: ..."), for the interrupt

    def show(self, console: Console, text: str) -> None:
        self.stage = text.split(":")[0]
        say(console, text)

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


FIRST_SELECT_SEED, FIRST_FINAL_SEED = 501, 1001
"""Where the last rung's seeds and the verdict's start (the search seeds start at 1)."""
MAX_SELECT_SEEDS = FIRST_FINAL_SEED - FIRST_SELECT_SEED - 1
"""The last rung's seeds stay below the verdict's."""

#: Plain progress lines come at least this far apart (and after the last batch).
PLAIN_EVERY_S = 10.0


def _bar(console: Console):
    """The search's bar on a terminal."""
    return progress_bar(
        console,
        "{task.description:<10}",
        "{task.completed:>5.0f}/{task.total:<5.0f}",
        rate=TextColumn("{task.fields[rate]}", markup=False),
        best=TextColumn("{task.fields[best]}", markup=False),
    )


@contextlib.contextmanager
def search_progress(console: Console, state: SearchProgress):
    """The callback the search calls after every batch: it draws a bar on a terminal and
    plain lines elsewhere, and counts candidates in ``state`` either way."""
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


# ------------------------------------------------------------------------------ the command


def command(args: argparse.Namespace, console: Console) -> int:
    data, others, held, settings, gp = plan(args)
    out = checked_out_and_executor(args)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    with executor_of(args) as executor:  # Ray starts while this process imports and loads data
        return _search(args, console, data, others, held, settings, gp, out, executor)


def _search(args, console, data, others, held, settings, gp, out, executor) -> int:
    from symact.experiments import DataCache
    from symact.search.outputs import SEARCH_REPORT, save_search, write_search_outputs
    from symact.search.runner import run_search
    from symact.search.verdict import conclusions
    from symact.training import resolve_device

    device = str(resolve_device(args.device))
    cache = DataCache(args.data_dir)
    note_file_datasets(console, cache, (*data, *others, *held))
    prebuild_kernels()
    start = time.perf_counter()
    state = SearchProgress(budget=settings.budget)

    def work(store):
        with search_progress(console, state) as progress:
            outcome = run_search(
                data if len(data) > 1 else data[0],
                settings,
                store,
                cache,
                gplearn=gp,
                evaluate_on=others,
                holdout=held,
                device=device,
                executor=executor,
                progress=progress,
                phase=lambda text: state.show(console, text),
                retry_failed=args.retry_failed,
                engine=args.engine,
            )
        save_search(outcome, store, cache)
        return outcome, write_search_outputs(store, out)

    def stopped(what: str, kept: int, stored: int, path) -> str:
        return (
            f"{what} at {state.trained}/{state.budget} candidates trained"
            f"{f' ({state.stage})' if state.stage else ''}: their training "
            f"runs are kept in {path} ({kept} finished in this session). Run the same command "
            "again to continue the same search."
        )

    done = work_in_store(console, out, executor, work, stopped, wait=args.wait)
    if done is None:
        return EXIT_INTERRUPTED
    outcome, table = done
    seconds = time.perf_counter() - start
    st = outcome.state
    counts: dict[str, int] = {}
    for c in st.candidates:
        counts[c.status] = counts.get(c.status, 0) + 1
    statuses = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    say(console, f"{len(st.candidates)} candidates proposed ({statuses}); {st.stopped}")
    say(console, verdict_text(table))
    n_classes = {e.dataset: e.n_classes for e in outcome.entries}
    for line in conclusions(table.to_dict("records"), n_classes):
        say(console, line)
    for line in transfer_lines(out, n_classes[outcome.label]):
        say(console, line)
    say(console, f"{seconds:.1f} s in all. Outputs in {out}/ ({SEARCH_REPORT}, search_results.csv)")
    return 0


def transfer_lines(out, n_classes: int) -> list[str]:
    """The across-datasets sentences of a search over several datasets, from the
    ``search_transfer.csv`` it wrote (none for a one-dataset search)."""
    from pathlib import Path

    import pandas as pd

    from symact.search.evolution import selection_metric
    from symact.search.transfer import transfer_sentences

    path = Path(out) / "search_transfer.csv"
    if not path.exists():
        return []
    return transfer_sentences(pd.read_csv(path), selection_metric(n_classes)[1])


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
