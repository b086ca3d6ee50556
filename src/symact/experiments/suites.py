"""Suites: the paper's benchmark and the offline builtin one, as data plus one pipeline.

A suite names its datasets, which of them lend their discovered activation to the others
("transfer"), the seeds and the protocol settings. :func:`run_suite` runs discovery on every
dataset, builds the grid (Heavy ReLU; Light ReLU/GELU/SiLU; Light with the dataset's own
formula; Light with each source's formula) and trains what the store does not hold yet.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from symact.data import REGISTRY
from symact.data.registry import resolve_name
from symact.discovery import Discovery, GplearnSettings
from symact.experiments.background import DiscoveryJob, DiscoveryProcess, can_run_in_background
from symact.experiments.datacache import DataCache
from symact.experiments.specs import DataSpec, DiscoverySpec, GridEntry, RunSpec
from symact.experiments.store import ResultsStore
from symact.training.config import TrainConfig

if TYPE_CHECKING:  # the runner imports torch; suites and their job lists must not need it
    from symact.experiments.runner import GridSummary, ProgressFn

PAPER_DATASETS: tuple[str, ...] = ("higgs", "covertype", "spambase")
BUILTIN_DATASETS: tuple[str, ...] = ("breast_cancer", "digits")
BASELINES: tuple[tuple[str, str, str], ...] = (
    # (architecture, activation, label)
    ("heavy", "relu", "ReLU"),
    ("light", "relu", "ReLU"),
    ("light", "gelu", "GELU"),
    ("light", "silu", "SiLU"),
)
SPECIALIST = "Hybrid (Specialist)"
TRANSFER = "Hybrid (Transfer)"


@dataclass(frozen=True)
class Suite:
    """A benchmark: datasets, transfer sources, seeds and protocol settings."""

    name: str
    datasets: tuple[DataSpec, ...]
    transfer_sources: tuple[str, ...]
    seeds: tuple[int, ...] = (42, 43, 44)
    train: TrainConfig = field(default_factory=TrainConfig)
    test_size: float = 0.2
    discovery: GplearnSettings = field(default_factory=GplearnSettings)

    def __post_init__(self) -> None:
        if not self.datasets:
            raise ValueError("a suite needs at least one dataset")
        if not self.seeds:
            raise ValueError("a suite needs at least one seed")
        names = [d.name for d in self.datasets]
        if len(set(names)) != len(names):
            raise ValueError(f"dataset listed twice in {names}")


def make_suite(
    name: str,
    *,
    datasets: tuple[str, ...] | None = None,
    rows: int | None = 100_000,
    seeds: tuple[int, ...] = (42, 43, 44),
    train: TrainConfig | None = None,
    discovery: GplearnSettings | None = None,
    subset_seed: int = 42,
) -> Suite:
    """The ``paper`` or ``builtin`` suite, optionally narrowed or with other settings.

    ``paper``: HIGGS, covertype and spambase, HIGGS's formula transferred to the others.
    ``builtin``: two scikit-learn datasets (no download), each formula transferred to the
    other.
    """
    if name == "paper":
        default, sources = PAPER_DATASETS, ("higgs",)
    elif name == "builtin":
        default, sources = BUILTIN_DATASETS, BUILTIN_DATASETS
    else:
        raise ValueError(f"unknown suite {name!r}; choose 'paper' or 'builtin'")
    # Registry names in any spelling ("FOREST_COVER", "covtype") become their canonical name;
    # anything else is a file path and kept as written.
    chosen = tuple(resolve_name(d) or d for d in datasets) if datasets else default
    return Suite(
        name=name,
        datasets=tuple(
            DataSpec(n, rows=_rows_for(n, rows), subset_seed=subset_seed) for n in chosen
        ),
        transfer_sources=tuple(s for s in sources if s in chosen),
        seeds=tuple(seeds),
        train=train or TrainConfig(),
        discovery=discovery or GplearnSettings(),
    )


def _rows_for(name: str, rows: int | None) -> int | None:
    """``rows`` caps a dataset; a cap at or above a dataset's full size means all its rows."""
    info = REGISTRY.get(name)
    if rows is None or (info is not None and info.full_rows is not None and rows >= info.full_rows):
        return None
    return rows


def discovery_specs(suite: Suite) -> list[DiscoverySpec]:
    return [DiscoverySpec(data=d, settings=suite.discovery) for d in suite.datasets]


def discovery_jobs(
    suite: Suite, data: DataCache, stored: Collection[str] = ()
) -> list[DiscoveryJob]:
    """The suite's discoveries whose keys are not in ``stored``, as background jobs."""
    jobs = []
    for dspec in discovery_specs(suite):
        if dspec.key() in stored:
            continue
        ds = data.dataset(dspec.data)
        jobs.append(DiscoveryJob(dspec.key(), ds.X, ds.y, ds.display_name, dspec.settings))
    return jobs


def grid(
    suite: Suite,
    discoveries: dict[str, Discovery],
    labels: dict[str, str],
    *,
    include: str = "all",
) -> list[GridEntry]:
    """Every run of the suite, with the table row it belongs to.

    ``discoveries`` and ``labels`` are keyed by dataset name; labels are display names.
    ``include``: ``"all"``, ``"baselines"`` (the runs that need no discovery, so they can
    train while discovery runs) or ``"formulas"`` (the rest).
    """
    if include not in ("all", "baselines", "formulas"):
        raise ValueError(f"include must be 'all', 'baselines' or 'formulas', got {include!r}")
    entries: list[GridEntry] = []
    for data in suite.datasets:
        rows: list[tuple[str, str, str]] = []
        if include != "formulas":
            rows += BASELINES
        if include != "baselines":
            rows.append(("light", str(discoveries[data.name].activation), SPECIALIST))
            sources = [s for s in suite.transfer_sources if s != data.name]
            for src in sources:
                label = TRANSFER if len(sources) == 1 else f"{TRANSFER[:-1]} from {labels[src]})"
                rows.append(("light", str(discoveries[src].activation), label))
        for arch, act, label in rows:
            for seed in suite.seeds:
                spec = RunSpec(
                    data=data,
                    architecture=arch,
                    activation=act,
                    seed=seed,
                    train=suite.train,
                    test_size=suite.test_size,
                )
                entries.append(GridEntry(spec, labels[data.name], arch.capitalize(), label))
    return entries


@dataclass(frozen=True)
class SuiteOutcome:
    """What :func:`run_suite` produced: discoveries, the grid and what training did."""

    suite: Suite
    discoveries: dict[str, Discovery]
    labels: dict[str, str]
    entries: list[GridEntry]
    summary: GridSummary
    data_provenance: dict[str, dict]


def run_suite(
    suite: Suite,
    store: ResultsStore,
    data: DataCache,
    *,
    device: str = "cpu",
    progress: ProgressFn | None = None,
    background_discovery: bool = True,
    head_start: DiscoveryProcess | None = None,
) -> SuiteOutcome:
    """Discover, then train every missing run of the suite; everything lands in ``store``.

    With ``background_discovery`` (and fork and a spare core available), discoveries run in
    a child process while the baseline runs, which need no formula, already train; the
    formula runs join the grid once every discovery is in. The results are the same.
    ``head_start``: a discovery child started earlier (see background.py); it is used if it
    plans exactly the discoveries the store lacks, else stopped and replaced. This function
    always stops it before returning.
    """
    try:
        return _run_suite(suite, store, data, device, progress, background_discovery, head_start)
    except BaseException:
        if head_start is not None:
            head_start.close()
        raise


def _run_suite(suite, store, data, device, progress, background_discovery, head_start):
    from symact.experiments.runner import discover, run_grid

    labels: dict[str, str] = {}
    discoveries: dict[str, Discovery] = {}
    provenance: dict[str, dict] = {}
    todo: list[DiscoverySpec] = []
    discovered: set[str] = set()
    for dspec in discovery_specs(suite):
        ds = data.dataset(dspec.data)
        labels[dspec.data.name] = ds.display_name
        provenance[dspec.data.name] = _provenance(ds)
        stored = store.get_discovery(dspec.key())
        if stored is not None:
            discoveries[dspec.data.name] = Discovery.from_dict(stored)
            discovered.add(dspec.key())
        else:
            todo.append(dspec)
    background = bool(todo) and background_discovery and can_run_in_background()
    if head_start is not None and not (
        background and head_start.plan() == {dspec.key() for dspec in todo}
    ):
        head_start.close()
        head_start = None
    if background:
        if head_start is None:
            head_start = DiscoveryProcess(discovery_jobs(suite, data, stored=discovered))
        later = _FormulaRuns(suite, store, todo, discoveries, labels, progress, head_start)
        try:
            baselines = [e.spec for e in grid(suite, discoveries, labels, include="baselines")]
            summary = run_grid(
                baselines, store, data, device=device, progress=progress, later=later
            )
        finally:
            later.close()
    else:
        for i, dspec in enumerate(todo):
            if progress:
                progress(f"discovery {labels[dspec.data.name]}", i, len(todo))
            discoveries[dspec.data.name] = discover(dspec, data, store)
        if progress:
            progress("discovery", len(todo), len(todo))
        specs = [e.spec for e in grid(suite, discoveries, labels)]
        summary = run_grid(specs, store, data, device=device, progress=progress)
    entries = grid(suite, discoveries, labels)
    return SuiteOutcome(suite, discoveries, labels, entries, summary, provenance)


class _FormulaRuns:
    """The suite's formula runs, released to :func:`run_grid` once discovery is done.

    Discoveries arrive from a :class:`DiscoveryProcess`; each is stored (this object lives
    in the thread that owns the store) as soon as it arrives, so an interrupted suite keeps
    the discoveries it finished.
    """

    def __init__(self, suite, store, todo, discoveries, labels, progress, process) -> None:
        self.suite, self.store, self.discoveries, self.labels = suite, store, discoveries, labels
        self.progress = progress
        self.specs = {dspec.key(): dspec for dspec in todo}
        self.done = 0
        self.released = False
        if progress:
            progress("discovery", 0, len(self.specs))
        self.process = process

    def pending(self) -> bool:
        return not self.released

    def collect(self, timeout: float | None) -> list[RunSpec]:
        from symact.experiments.runner import store_discovery

        for key, found in self.process.results(timeout):
            dspec = self.specs[key]
            store_discovery(dspec, found, self.store)
            self.discoveries[dspec.data.name] = found
            self.done += 1
            if self.progress:
                self.progress("discovery", self.done, len(self.specs))
        if self.process.pending() or self.released:
            return []
        self.released = True
        entries = grid(self.suite, self.discoveries, self.labels, include="formulas")
        return [e.spec for e in entries]

    def close(self) -> None:
        self.process.close()


def _provenance(ds) -> dict:
    """The dataset's provenance as JSON-able values (notes included)."""
    p = asdict(ds.provenance)
    p["notes"] = list(p.get("notes") or ())
    return {
        k: (str(v) if not isinstance(v, (int, float, str, list, type(None))) else v)
        for k, v in p.items()
    }
