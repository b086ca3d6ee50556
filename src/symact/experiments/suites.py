"""Suites: the paper's benchmark, the offline builtin one and a user's, as data plus one pipeline.

A suite names its datasets, the networks (Heavy, Light), the Light activations to compare
(named or formulas), whether the paper's gplearn discovery runs (and with how many seeds),
which datasets lend their discovered formulas to the others ("transfer"), the training
seeds and the protocol's settings. :func:`run_suite` runs discovery on every dataset, builds
the grid (Heavy ReLU; Light with each activation; Light with the dataset's own formula;
Light with each source's formula) and trains what the store does not hold yet.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from symact.data import REGISTRY
from symact.data.openml import is_openml, openml_label
from symact.data.registry import resolve_name
from symact.discovery import ENGINES, Discovery, GplearnSettings
from symact.errors import SettingError
from symact.experiments.background import DiscoveryJob, DiscoveryProcess, can_run_in_background
from symact.experiments.datacache import DataCache, discovery_rows
from symact.experiments.specs import DataSpec, DiscoverySpec, GridEntry, RunSpec, SplitSpec
from symact.experiments.store import ResultsStore
from symact.formula.named import NAMED_ACTIVATIONS, named_activation
from symact.models import HEAVY, LIGHT, ModelSpec
from symact.models.spec import PARAMETRIC_PREFIX, split_parametric
from symact.training.config import TrainConfig

if TYPE_CHECKING:  # the runner imports torch; suites and their job lists must not need it
    from symact.experiments.executors import Executor
    from symact.experiments.runner import GridSummary, ProgressFn

PAPER_DATASETS: tuple[str, ...] = ("higgs", "covertype", "spambase")
BUILTIN_DATASETS: tuple[str, ...] = ("breast_cancer", "digits")
DEFAULT_ACTIVATIONS: tuple[str, ...] = ("relu", "gelu", "silu")
_SEEDS = (42, 43, 44)
SPECIALIST = "Hybrid (Specialist)"
TRANSFER = "Hybrid (Transfer)"
#: display names of named activations in the tables (the paper's spelling)
ACTIVATION_LABELS = {row.name: row.label for row in NAMED_ACTIVATIONS.values()}


def activation_label(activation: str) -> str:
    """A table label: a name's display spelling, or the formula's canonical text; the
    parametric form as ``param:`` and its activation's label (``param:ReLU``)."""
    parametric, inner = split_parametric(activation)
    if parametric:
        return PARAMETRIC_PREFIX + activation_label(inner)
    named = named_activation(activation)
    return ACTIVATION_LABELS.get(named.name, named.name) if named else activation


def dataset_label(name: str) -> str:
    """The table label of a dataset, known without loading it: a registry dataset's display
    name, a file's stem in capitals (as the loader names it)."""
    key = resolve_name(name)
    if key is not None:
        return REGISTRY[key].display_name
    if is_openml(name):
        return openml_label(name)
    path = Path(name)
    return (path.name.split(".", 1)[0] or path.name).upper()


@dataclass(frozen=True)
class Suite:
    """A benchmark: datasets, networks, activations, discovery, transfer, seeds, settings.

    ``heavy`` None leaves the Heavy network out; ``light``'s activation is ignored (each of
    ``activations`` gets its Light row). ``discovery_method`` is the engine (``"gplearn"``,
    the paper's, or ``"operon"``) or ``"none"``;
    ``discovery_seeds`` repeats it (gplearn's random_state and the 10% subsample together),
    each formula its own row. ``learnable_constants`` applies to every formula activation.
    ``discovery_part``: ``"all"`` (the paper's: discovery samples all rows, so the formula has
    seen rows that are later test rows) or ``"train"`` (one discovery per training seed, on
    that seed's split's training part; each seed's runs train their own split's formula).
    """

    name: str
    datasets: tuple[DataSpec, ...]
    transfer_sources: tuple[str, ...]
    seeds: tuple[int, ...] = (42, 43, 44)
    train: TrainConfig = field(default_factory=TrainConfig)
    test_size: float = 0.2
    discovery: GplearnSettings = field(default_factory=GplearnSettings)
    light: ModelSpec = LIGHT
    heavy: ModelSpec | None = HEAVY
    activations: tuple[str, ...] = DEFAULT_ACTIVATIONS
    discovery_method: str = "gplearn"
    discovery_seeds: tuple[int, ...] | None = None
    learnable_constants: bool = False
    discovery_part: str = "all"
    reference: str | None = None  # a model fitted on every split as context: "lightgbm"

    def __post_init__(self) -> None:
        if not self.datasets:
            raise SettingError("a suite needs at least one dataset")
        if not self.seeds:
            raise SettingError("a suite needs at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise SettingError(f"seed listed twice in {list(self.seeds)}")
        labels = [dataset_label(d.name) for d in self.datasets]
        twice = sorted({lab for lab in labels if labels.count(lab) > 1})
        if twice:
            raise SettingError(
                f"two datasets would share the table label {twice[0]!r} "
                f"({[d.name for d in self.datasets if dataset_label(d.name) == twice[0]]}); "
                "rename one of the files"
            )
        if self.discovery_method not in (*ENGINES, "none"):
            raise SettingError(
                f"discovery must be one of {(*ENGINES, 'none')}, got {self.discovery_method!r}"
            )
        if self.discovery_part not in DISCOVERY_PARTS:
            raise ValueError(
                f"discovery part must be 'all' or 'train', got {self.discovery_part!r}"
            )
        if self.discovery_part == "train" and self.learnable_constants:
            # each seed's formula may have another number of constants, so one table row
            # would mix networks of different sizes
            raise ValueError("discovery on training parts cannot go with learnable constants")
        acts = [activation_label(a) for a in self.activations]
        if len(set(acts)) != len(acts):
            raise SettingError(f"activation listed twice in {list(self.activations)}")

    @property
    def split_seeds(self) -> tuple[int | None, ...]:
        """The splits discovery runs on: each training seed's (``"train"``), or None, all
        rows (``"all"``)."""
        return self.seeds if self.discovery_part == "train" else (None,)

    def discovery_part_of(self, split_seed: int | None) -> SplitSpec | None:
        return None if split_seed is None else SplitSpec(split_seed, self.test_size)

    @property
    def gp_seeds(self) -> tuple[int, ...]:
        if self.discovery_method == "none":
            return ()
        return self.discovery_seeds or (self.discovery.seed,)


def make_suite(
    name: str,
    *,
    datasets: Sequence[str | DataSpec] | None = None,
    rows: int | None = None,
    seeds: tuple[int, ...] = _SEEDS,
    train: TrainConfig | None = None,
    discovery: GplearnSettings | None = None,
    subset_seed: int = 42,
    **options,
) -> Suite:
    """The ``paper`` or ``builtin`` suite, optionally narrowed or with other settings, or
    a suite file's (``name`` its path or a shipped suite's name, see suite_file).

    ``paper``: HIGGS, covertype and spambase, HIGGS's formula transferred to the others.
    ``builtin``: two scikit-learn datasets (no download), each formula transferred to the
    other. ``options``: any other :class:`Suite` field (``activations``, ``heavy``, ...),
    ``target``/``positive``/``drop``/``labels``/``missing`` for the datasets, and
    ``transfer`` (``"all"``, ``"none"`` or names) to choose the sources.
    """
    if name not in ("paper", "builtin") and datasets is None:
        from symact.experiments.suite_file import load_suite_file, suite_file_path

        found = load_suite_file(suite_file_path(name), options.pop("data_dir", None))
        from_file = found.grid_options()  # the caller's settings win over the file's
        file_seeds, file_train = from_file.pop("seeds", None), from_file.pop("train", None)
        seeds = file_seeds if file_seeds is not None and seeds == _SEEDS else seeds
        train = train or file_train
        return make_suite(
            found.name,
            datasets=found.datasets,
            rows=rows,
            seeds=seeds,
            train=train,
            discovery=discovery,
            subset_seed=subset_seed,
            **{**from_file, **options},
        )
    if name == "paper":
        default, sources = PAPER_DATASETS, ("higgs",)
    elif name == "builtin":
        default, sources = BUILTIN_DATASETS, BUILTIN_DATASETS
    elif all(isinstance(d, DataSpec) for d in datasets or ()):
        default, sources = (), ()  # a suite file's entries: no transfer unless asked
    else:
        raise SettingError(f"unknown suite {name!r}; choose 'paper' or 'builtin'")
    data_options = {
        k: options.pop(k)
        for k in ("target", "positive", "drop", "labels", "missing")
        if k in options
    }
    transfer = options.pop("transfer", None)
    # Registry names in any spelling ("FOREST_COVER", "covtype") become their canonical name;
    # anything else is a file path and kept as written.
    given = [d for d in datasets or () if isinstance(d, DataSpec)]
    if given and len(given) != len(datasets or ()):
        raise ValueError("datasets: pass names and paths, or DataSpecs, not both")
    chosen = (
        tuple(d.name if isinstance(d, DataSpec) else resolve_name(d) or d for d in datasets)
        if datasets
        else default
    )
    specs = []
    for d in given:  # a suite file's entries, each with its own options
        specs.append(d if rows is None else replace(d, rows=_rows_for(d.name, rows)))
    for n in chosen if not given else ():
        is_file = resolve_name(n) is None
        opts = dict(data_options)
        if not is_file:  # target, positive and drop apply to file datasets
            opts = {k: v for k, v in opts.items() if k == "labels"}
        specs.append(DataSpec(n, rows=_rows_for(n, rows), subset_seed=subset_seed, **opts))
    if transfer is not None:
        sources = _transfer_sources(transfer, chosen)
    # a grid with datasets of its own is not the paper's (or the builtin) suite, whose
    # protocol it runs: its results and report say "custom"
    return Suite(
        name=name if given or set(chosen) <= set(default) else "custom",
        datasets=tuple(specs),
        transfer_sources=tuple(s for s in sources if s in chosen),
        seeds=tuple(seeds),
        train=train or TrainConfig(),
        discovery=discovery or GplearnSettings(),
        **options,
    )


def _transfer_sources(transfer: str | Sequence[str], chosen: Sequence[str]) -> tuple[str, ...]:
    if transfer == "all":
        return tuple(chosen)
    if transfer == "none":
        return ()
    names = [transfer] if isinstance(transfer, str) else list(transfer)
    out = []
    for t in names:
        key = resolve_name(t) or t
        if key not in chosen:
            raise SettingError(
                f"--transfer {t!r} is not one of this run's datasets ({', '.join(chosen)}); "
                "use 'all', 'none' or one of them"
            )
        out.append(key)
    return tuple(out)


def _rows_for(name: str, rows: int | None) -> int | None:
    """``rows`` caps a dataset; a cap at or above a dataset's full size means all its rows.
    No cap: the registry's default (the paper's 100,000 for HIGGS and covertype), or all the
    rows of a file."""
    info = REGISTRY.get(name)
    if rows is None:
        return None if info is None else info.default_rows
    if info is not None and info.full_rows is not None and rows >= info.full_rows:
        return None
    return rows


#: ``Suite.discovery_part``'s values.
DISCOVERY_PARTS = ("all", "train")

Slot = tuple[str, int, "int | None"]
"""Which discovery a formula comes from: (dataset name, discovery seed, split seed or None)."""


def slot(dspec: DiscoverySpec) -> Slot:
    return (dspec.data.name, dspec.settings.seed, None if dspec.part is None else dspec.part.seed)


def discovery_specs(suite: Suite) -> list[DiscoverySpec]:
    return [
        DiscoverySpec(
            data=d,
            settings=replace(suite.discovery, seed=seed),
            method=suite.discovery_method,
            part=suite.discovery_part_of(split_seed),
        )
        for d in suite.datasets
        for seed in suite.gp_seeds
        for split_seed in suite.split_seeds
    ]


def identified(suite: Suite, data: DataCache) -> Suite:
    """The suite with each dataset's fingerprint in its DataSpec (``DataCache.identify``),
    so that every key made from it names the rows it reads."""
    return replace(suite, datasets=tuple(data.identify(d) for d in suite.datasets))


def discovery_jobs(
    suite: Suite, data: DataCache, stored: Collection[str] = ()
) -> list[DiscoveryJob]:
    """The suite's discoveries whose keys are not in ``stored``, as background jobs."""
    jobs = []
    for dspec in discovery_specs(identified(suite, data)):
        if dspec.key() in stored:
            continue
        ds = data.dataset(dspec.data)
        X, y = discovery_rows(ds, dspec.part)
        jobs.append(
            DiscoveryJob(
                dspec.key(), X, y, ds.display_name, dspec.settings, ds.onehot_blocks, dspec.method
            )
        )
    return jobs


@dataclass(frozen=True)
class FormulaRow:
    """One discovered formula used on one dataset: which table row it is and where it came
    from (the report's claims audit judges the method across these)."""

    dataset: str  # target, by registry name or path
    source: str  # the dataset the formula was discovered on
    discovery_seed: int
    formula: str
    label: str  # the activation label of its row
    split_seed: int | None = None  # with discovery on training parts: the seed it trains with


def formula_rows(
    suite: Suite, discoveries: dict[Slot, Discovery], labels: dict[str, str]
) -> list[FormulaRow]:
    """Every Specialist and Transfer row of the suite, given the discoveries (by
    :data:`Slot`); with discovery on training parts, one per row and training seed."""
    rows = []
    several = len(suite.gp_seeds) > 1
    for data in suite.datasets:
        for seed in suite.gp_seeds:
            tag = f", discovery seed {seed}" if several else ""
            sources = [s for s in suite.transfer_sources if s != data.name]
            for split in suite.split_seeds:
                own = discoveries[(data.name, seed, split)]
                label = f"{SPECIALIST[:-1]}{tag})"
                rows.append(
                    FormulaRow(data.name, data.name, seed, str(own.activation), label, split)
                )
                for src in sources:
                    base = (
                        TRANSFER[:-1]
                        if len(sources) == 1
                        else f"{TRANSFER[:-1]} from {labels[src]}"
                    )
                    formula = str(discoveries[(src, seed, split)].activation)
                    rows.append(FormulaRow(data.name, src, seed, formula, f"{base}{tag})", split))
    return rows


def grid(
    suite: Suite,
    discoveries: dict[Slot, Discovery],
    labels: dict[str, str],
    n_classes: dict[str, int],
    *,
    include: str = "all",
) -> list[GridEntry]:
    """Every run of the suite, with the table row it belongs to.

    ``discoveries`` are keyed by :data:`Slot`, ``labels`` (display names)
    and ``n_classes`` by dataset name. ``include``: ``"all"``, ``"baselines"`` (the runs
    that need no discovery, so they can train while discovery runs) or ``"formulas"``.
    """
    if include not in ("all", "baselines", "formulas"):
        raise SettingError(f"include must be 'all', 'baselines' or 'formulas', got {include!r}")
    lc = suite.learnable_constants
    entries: list[GridEntry] = []
    for data in suite.datasets:
        # (network, architecture, activation label, seeds)
        rows: list[tuple[ModelSpec, str, str, tuple[int, ...]]] = []
        light = suite.light.with_outputs(n_classes[data.name])
        if include != "formulas":
            if suite.heavy is not None:
                heavy = suite.heavy.with_outputs(n_classes[data.name]).with_activation("relu")
                rows.append((heavy, "Heavy", "ReLU", suite.seeds))
            for act in suite.activations:
                named = named_activation(split_parametric(act)[1]) is not None
                rows.append(
                    (
                        light.with_activation(act, learnable_constants=lc and not named),
                        "Light",
                        activation_label(act),
                        suite.seeds,
                    )
                )
        if include != "baselines":
            for row in formula_rows(suite, discoveries, labels):
                if row.dataset == data.name:
                    spec = light.with_activation(row.formula, learnable_constants=lc)
                    seeds = suite.seeds if row.split_seed is None else (row.split_seed,)
                    rows.append((spec, "Light", row.label, seeds))
        for model, arch, label, seeds in rows:
            for seed in seeds:
                spec = RunSpec(data, model, seed, suite.train, SplitSpec(seed, suite.test_size))
                entries.append(GridEntry(spec, labels[data.name], arch, label))
    return entries


@dataclass(frozen=True)
class SuiteOutcome:
    """What :func:`run_suite` produced: discoveries, the grid and what training did."""

    suite: Suite
    discoveries: dict[Slot, Discovery]
    labels: dict[str, str]
    entries: list[GridEntry]
    summary: GridSummary
    data_provenance: dict[str, dict]
    formulas: list[FormulaRow] = field(default_factory=list)
    references: list[dict] = field(default_factory=list)  # see experiments.reference


def run_suite(
    suite: Suite,
    store: ResultsStore,
    data: DataCache,
    *,
    device: str = "cpu",
    progress: ProgressFn | None = None,
    background_discovery: bool = True,
    head_start: DiscoveryProcess | None = None,
    executor: Executor | None = None,
    retry_failed: bool = False,
) -> SuiteOutcome:
    """Discover, then train every missing run of the suite; everything lands in ``store``.

    With ``background_discovery`` (and fork and a spare core available), discoveries run in
    a child process while the baseline runs, which need no formula, already train; the
    formula runs join the grid once every discovery is in. The results are the same.
    ``head_start``: a discovery child started earlier (see background.py); it is used if it
    plans exactly the discoveries the store lacks, else stopped and replaced. This function
    always stops it before returning. ``retry_failed``: train every failed run again (see
    :func:`~symact.experiments.runner.run_grid`).
    """
    try:
        return _run_suite(
            suite,
            store,
            data,
            device,
            progress,
            background_discovery,
            head_start,
            executor,
            retry_failed,
        )
    except BaseException:
        if head_start is not None:
            head_start.close()
        raise


def _run_suite(
    suite, store, data, device, progress, background_discovery, head_start, executor, retry_failed
):
    from symact.experiments.runner import discover, run_grid

    labels: dict[str, str] = {}
    n_classes: dict[str, int] = {}
    discoveries: dict[Slot, Discovery] = {}
    provenance: dict[str, dict] = {}
    todo: list[DiscoverySpec] = []
    discovered: set[str] = set()
    suite = identified(suite, data)
    for d in suite.datasets:
        ds = data.dataset(d)
        labels[d.name] = ds.display_name
        n_classes[d.name] = data.n_classes(d)
        provenance[d.name] = ds.provenance.to_dict()
    for dspec in discovery_specs(suite):
        stored = store.get_discovery(dspec.key())
        if stored is not None:
            discoveries[slot(dspec)] = Discovery.from_dict(stored)
            discovered.add(dspec.key())
        else:
            todo.append(dspec)
    background = bool(todo) and background_discovery and can_run_in_background()
    if head_start is not None and not (
        background and head_start.plan() == {dspec.key() for dspec in todo}
    ):
        head_start.close()
        head_start = None
    common = dict(device=device, progress=progress, executor=executor, retry_failed=retry_failed)
    if background:
        if head_start is None:
            head_start = DiscoveryProcess(discovery_jobs(suite, data, stored=discovered))
        later = _FormulaRuns(
            suite, store, todo, discoveries, labels, n_classes, progress, head_start
        )
        try:
            baselines = grid(suite, discoveries, labels, n_classes, include="baselines")
            summary = run_grid([e.spec for e in baselines], store, data, later=later, **common)
        finally:
            later.close()
    else:
        for i, dspec in enumerate(todo):
            if progress:
                progress(f"discovery {labels[dspec.data.name]}", i, len(todo))
            discoveries[slot(dspec)] = discover(dspec, data, store)
        if progress and todo:
            progress("discovery", len(todo), len(todo))
        specs = [e.spec for e in grid(suite, discoveries, labels, n_classes)]
        summary = run_grid(specs, store, data, **common)
    entries = grid(suite, discoveries, labels, n_classes)
    formulas = formula_rows(suite, discoveries, labels)
    references = _references(suite, store, data, labels, progress)
    return SuiteOutcome(
        suite, discoveries, labels, entries, summary, provenance, formulas, references
    )


def _references(suite, store, data, labels, progress) -> list[dict]:
    """Fit the suite's reference model on every split (stored; a rerun resumes)."""
    if suite.reference is None:
        return []
    from symact.experiments.reference import reference_entries, reference_specs, run_references

    specs = reference_specs(suite.reference, suite.datasets, suite.seeds, suite.test_size)
    if progress:
        progress(f"reference {suite.reference}", 0, len(specs))
    run_references(specs, store, data)
    if progress:
        progress(f"reference {suite.reference}", len(specs), len(specs))
    return reference_entries(specs, labels)


class _FormulaRuns:
    """The suite's formula runs, released to :func:`run_grid` once discovery is done.

    Discoveries arrive from a :class:`DiscoveryProcess`; each is stored (this object lives
    in the thread that owns the store) as soon as it arrives, so an interrupted suite keeps
    the discoveries it finished.
    """

    def __init__(self, suite, store, todo, discoveries, labels, n_classes, progress, process):
        self.suite, self.store, self.discoveries, self.labels = suite, store, discoveries, labels
        self.n_classes, self.progress = n_classes, progress
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
            self.discoveries[slot(dspec)] = found
            self.done += 1
            if self.progress:
                self.progress("discovery", self.done, len(self.specs))
        if self.process.pending() or self.released:
            return []
        self.released = True
        entries = grid(
            self.suite, self.discoveries, self.labels, self.n_classes, include="formulas"
        )
        return [e.spec for e in entries]

    def close(self) -> None:
        self.process.close()
