"""``run_search``: a whole search on one dataset, its verdict, and its transfer verdicts.

The pipeline: load the data; on binary data discover the gplearn Specialist on the
training part only (it is a baseline of the verdict, and a member of the first generation
when asked); evolve (``evolution.Search``); promote the best through longer trainings to
the finalists, chosen on the selection rows (``rungs``); judge them on test with fresh seeds
(``verdict``), on this dataset and on each ``evaluate_on`` dataset. Every run goes through
``run_grid``, so it is committed to the results store as it finishes and trained by
whichever executor is given (local threads, Ray).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from symact.data.errors import DataError
from symact.discovery import Discovery, GplearnSettings, discover_with
from symact.experiments.datacache import DataCache, training_part
from symact.experiments.executors import Executor, LocalExecutor
from symact.experiments.runner import run_grid, store_discovery
from symact.experiments.specs import DataSpec, DiscoverySpec, RunSpec
from symact.experiments.store import ResultsStore
from symact.formula.tree import Formula
from symact.search.evolution import ProgressFn, Search, SearchSettings, SearchState
from symact.search.rungs import Rung, climb, finalists
from symact.search.verdict import Entry, judge, plan_verdict


@dataclass
class SearchOutcome:
    """A finished search: its state, the verdict rows per dataset, and what they used.
    ``data``/``label``: the (first) search dataset; ``datasets``: all of them (a search over
    several); ``holdout``: datasets kept out of the search and selection, judged only."""

    data: DataSpec
    label: str
    settings: SearchSettings
    state: SearchState
    entries: list[Entry]
    rows: list[dict[str, Any]]
    specialists: dict[str, str] = field(default_factory=dict)  # dataset label -> formula
    provenance: dict[str, dict] = field(default_factory=dict)
    evaluate_on: tuple[DataSpec, ...] = ()
    rungs: list[Rung] = field(default_factory=list)
    datasets: tuple[DataSpec, ...] = ()
    holdout: tuple[DataSpec, ...] = ()
    references: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)


def one_task(classes: dict[str, int]) -> int:
    """The class count every dataset of a search over several shares in kind: all binary
    (judged on ROC AUC) or all multi-class (accuracy); a DataError naming both kinds
    otherwise (their scores would be in two metrics). Returns the first's count."""
    binary = sorted(label for label, n in classes.items() if n <= 2)
    multi = sorted(label for label, n in classes.items() if n > 2)
    if binary and multi:
        raise DataError(
            f"a search over several datasets needs all of them binary (AUC) or all "
            f"multi-class (accuracy); binary: {', '.join(binary)}; multi-class: "
            f"{', '.join(multi)}: search and hold out datasets of one kind"
        )
    return next(iter(classes.values()))


def specialist_on_training_part(
    data: DataSpec,
    settings: SearchSettings,
    gp: GplearnSettings,
    cache: DataCache,
    store: ResultsStore,
    engine: str = "gplearn",
) -> Discovery:
    """The dataset's formula (``engine``: gplearn, the paper's, or operon), discovered on the
    training part of the search's split only (stored, so a rerun reuses it)."""
    spec = DiscoverySpec(data, gp, method=engine, part=settings.test_split())
    stored = store.get_discovery(spec.key())
    if stored is not None:
        return Discovery.from_dict(stored)
    ds = cache.dataset(data)
    X, y = training_part(ds, settings.test_split())
    found = discover_with(
        engine, X, y, dataset=ds.display_name, settings=gp, onehot_blocks=ds.onehot_blocks
    )
    store_discovery(spec, found, store)
    return found


def run_search(
    data: DataSpec | Sequence[DataSpec],
    settings: SearchSettings,
    store: ResultsStore,
    cache: DataCache,
    *,
    gplearn: GplearnSettings | None = None,
    evaluate_on: Sequence[DataSpec] = (),
    holdout: Sequence[DataSpec] = (),
    device: str = "cpu",
    executor: Executor | None = None,
    progress: ProgressFn | None = None,
    phase: Callable[[str], None] | None = None,
    retry_failed: bool = False,
    engine: str = "gplearn",
) -> SearchOutcome:
    """Search, then judge (see the module docstring). ``data``: one dataset, or several
    searched with one population (``search.aggregate``). ``holdout``: datasets never trained
    on before the verdict, on which the finalists are judged (transfer; like
    ``evaluate_on``, and summarized across them by ``search.transfer``). ``gplearn`` None
    skips the Specialist (multi-class data never has one: gplearn's discovery is binary).
    ``retry_failed``: train every stored failed run again (transient failures always are)."""

    def train(specs: Sequence[RunSpec]) -> None:
        # one worker per core and single-threaded stacks: a model's result then does not
        # depend on its stack's make-up, so an interrupted search resumes to the same result
        ex = executor or LocalExecutor(
            device, workers=(os.cpu_count() or 1) if device == "cpu" else 1
        )
        run_grid(specs, store, cache, device=device, executor=ex, retry_failed=retry_failed)

    say = phase or (lambda text: None)
    # every key of the search names the rows it reads (an edited file is a new search)
    searched = tuple(cache.identify(d) for d in ((data,) if isinstance(data, DataSpec) else data))
    evaluate_on = [cache.identify(d) for d in evaluate_on]
    holdout = [cache.identify(d) for d in holdout]
    labels = {d: cache.dataset(d).display_name for d in (*searched, *evaluate_on, *holdout)}
    several = len(searched) > 1
    if several or holdout:
        n_classes = one_task({labels[d]: cache.n_classes(d) for d in (*searched, *holdout)})
    else:
        n_classes = cache.n_classes(searched[0])
    specialists: dict[str, Formula] = {}
    if gplearn is not None and n_classes == 2:
        for d in searched:
            say(f"discovery: {engine} on the training part of {labels[d]}")
            specialists[labels[d]] = specialist_on_training_part(
                d, settings, gplearn, cache, store, engine
            ).activation
    first = labels[searched[0]]
    search = Search(
        searched,
        settings,
        store,
        cache,
        train,
        specialist=specialists.get(first) if settings.specialist else None,
        n_classes=n_classes,
        progress=progress,
    )
    state = search.run()
    say(f"rungs: epochs {settings.ladder_text()}, the best 1/{settings.eta} of each go on")
    rungs = climb(search, state.candidates, say)
    chosen = finalists(rungs, state.candidates, settings.top)
    n_final = len(settings.final_seeds)
    say(f"verdict: {len(chosen)} finalist(s) against the baselines, {n_final} seeds")
    entries: list[Entry] = []
    for d in searched:
        entries += plan_verdict(
            search, chosen, d, labels[d], specialists.get(labels[d]), searched_here=not several
        )
    provenance = {labels[d]: cache.dataset(d).provenance.to_dict() for d in searched}
    for other in (*evaluate_on, *holdout):
        ods = cache.dataset(other)
        if gplearn is not None and ods.n_classes == 2:
            specialists[ods.display_name] = specialist_on_training_part(
                other, settings, gplearn, cache, store
            ).activation
        provenance[ods.display_name] = ods.provenance.to_dict()
        sub = Search(other, settings, store, cache, train, n_classes=ods.n_classes)
        entries += plan_verdict(
            sub,
            chosen,
            other,
            ods.display_name,
            specialists.get(ods.display_name),
            searched_here=False,
        )
    train([spec for e in entries for spec in e.final_specs])
    rows = verdict_rows([e.to_dict() for e in entries], store)
    references = search.references_used()
    return SearchOutcome(
        searched[0],
        first,
        settings,
        state,
        entries,
        rows,
        {k: str(v) for k, v in specialists.items()},
        provenance,
        tuple(evaluate_on),
        rungs,
        searched,
        tuple(holdout),
        references,
    )


def verdict_rows(entries: Sequence[dict[str, Any]], store: ResultsStore) -> list[dict]:
    """The verdict's table from ``Entry.to_dict`` records and the store alone."""
    results = store.stored_runs(key for e in entries for _, key in e["finals"])
    rows = []
    for label in dict.fromkeys(e["dataset"] for e in entries):
        rows += judge([e for e in entries if e["dataset"] == label], results)
    return rows
