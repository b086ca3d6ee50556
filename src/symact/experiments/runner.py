"""Run discoveries and training grids against the results store, skipping what is stored.

The runner turns specs into work: it asks the store which runs are missing, plans them into
stacks of models trained together (:func:`plan_jobs`, a pure function of the specs and the
data's shapes), hands the stacks to an executor (``executors.py``: threads here, or Ray
tasks on a cluster), and commits every run's result the moment its stack comes back, one
transaction per run, from this thread only.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from symact.discovery import Discovery, discover_with
from symact.experiments.datacache import DataCache, discovery_rows
from symact.experiments.executors import (
    Executor,
    LocalExecutor,
    StackJob,
    environment,
    failed_records,
)
from symact.experiments.specs import PROTOCOL_VERSION, DataSpec, DiscoverySpec, RunSpec
from symact.experiments.store import ResultsStore

ProgressFn = Callable[[str, int, int], None]
"""Called as ``progress(description, done, total)``; the CLI draws it as a bar."""


def discover(spec: DiscoverySpec, data: DataCache, store: ResultsStore) -> Discovery:
    """The stored discovery for ``spec``, or a new one, committed before it is returned."""
    check_identified([spec.data], data)
    stored = store.get_discovery(spec.key())
    if stored is not None:
        return Discovery.from_dict(stored)
    ds = data.dataset(spec.data)
    X, y = discovery_rows(ds, spec.part)
    found = discover_with(
        spec.method,
        X,
        y,
        dataset=ds.display_name,
        settings=spec.settings,
        onehot_blocks=ds.onehot_blocks,
    )
    store_discovery(spec, found, store)
    return found


def store_discovery(spec: DiscoverySpec, found: Discovery, store: ResultsStore) -> None:
    """Commit a discovery under its spec's key, with the versions that produced it."""
    record = found.to_dict() | {"environment": environment()}
    described = {"data": spec.data.to_dict(), "method": spec.method, "protocol": PROTOCOL_VERSION}
    store.put_discovery(spec.key(), described, record)


def check_identified(specs: Iterable[DataSpec], data: DataCache) -> None:
    """Refuse a spec whose key would not name the data it trains on: its DataSpec must
    carry the fingerprint of the rows ``data`` loads for it (``DataCache.identify``), or a
    rerun on an edited file would find the old runs under the same key."""
    for spec in dict.fromkeys(specs):
        found = data.dataset(spec).fingerprint
        if spec.fingerprint != found:
            said = "no fingerprint" if spec.fingerprint is None else spec.fingerprint
            raise ValueError(
                f"the DataSpec of {spec.name!r} carries {said}, but its rows have fingerprint "
                f"{found}: build run specs from DataCache.identify(spec)"
            )


@dataclass(frozen=True)
class GridSummary:
    """What one call of :func:`run_grid` did."""

    total: int
    skipped: int
    trained: int
    failed: int
    seconds: float
    first_failure: str | None = None
    failed_stored: int = 0  # failed among all the grid's stored runs, earlier sessions' too


STACK_WORK = 2e10
"""On a CPU, the most work (in ``ModelSpec.cost`` units) one stack is given: about 2.5 s on
one core of the 2-core machine the benchmarks run on (a covertype Light model is 6.6e9, a
Heavy one 3.7e10)."""


STACKS_PER_WORKER = 64
"""A large grid's stacks are made larger, down to this many per worker: the last stack, the
grid's tail, is then still a small part of a worker's share."""

LARGEST_STACK_WORK = 8 * STACK_WORK
"""The most work a stack of a large grid is given. Trained to convergence, four of the
development suite's largest tables (letter, magic, mushroom, penbased; 4 seeds) took 1.14x
fewer CPU seconds and 1.19x less wall time with stacks of 3-10 x ``STACK_WORK`` than of 1 x,
where their Light models were cut one by one and paid a step's Python calls each; 20 x was
slower again (few stacks, mixed seeds). The whole suite gained 1.03x: its Heavy stacks are
one model each either way and bound by their matmuls."""


def grid_stack_work(total_work: float, workers: int, stack_work: float = STACK_WORK) -> float:
    """The work one stack is given in a grid of ``total_work`` on ``workers``: ``stack_work``
    for a small grid (the paper's, a search round), more for a large one (see
    :data:`STACKS_PER_WORKER`, :data:`LARGEST_STACK_WORK`)."""
    share = total_work / (max(workers, 1) * STACKS_PER_WORKER)
    return max(stack_work, min(share, LARGEST_STACK_WORK * stack_work / STACK_WORK))


def max_stack_size(model_cost: float, device: str, stack_work: float = STACK_WORK) -> int:
    """How many models of this cost share a stack.

    On a CPU each stack runs on one core, and the grid ends when the last stack does: a
    stack holding all three covertype Heavy models (~12 s on one core) was the whole suite's
    critical path while the other core ran out of work. So long trainings are cut into
    stacks of at most ``stack_work``: Heavy models one by one, Light ones by three. Short
    trainings stay in large stacks, where the per-step overhead, paid once per stack, is what
    costs. A GPU takes whole stacks.
    """
    if device != "cpu":
        return 64
    return int(max(1, min(64, stack_work // max(model_cost, 1.0))))


Shape = tuple[int, int]  # (features, training rows) of a run's split


def plan_jobs(
    specs: Sequence[RunSpec],
    shape: Callable[[RunSpec], Shape],
    device: str = "cpu",
    stack_work: float = STACK_WORK,
    min_jobs: int = 1,
) -> list[StackJob]:
    """The stacks that train ``specs``, costliest first: a pure function of the specs and
    their data's shapes.

    Runs share a stack when their settings, network structure and data shape agree; each
    such group gets a stack size from one model's work (:func:`max_stack_size`) and the
    grid's (:func:`grid_stack_work`: a large grid gets larger stacks), and groups
    cut into several stacks are cut by seed (models of one seed share their data order, so
    such a stack gathers each batch once). Within a stack, equal activations sit together.
    While there are fewer stacks than ``min_jobs`` (the cores), the costliest stack of two or
    more models is halved, by seed where it holds several: a search round of 32 candidates x
    2 seeds fits one stack by work, and as one stack it would leave a core idle.
    """
    groups: dict[tuple, list[RunSpec]] = {}
    for spec in specs:
        key = (spec.train, spec.model.structure(), *shape(spec))
        groups.setdefault(key, []).append(spec)
    costs = {
        key: members[0].model.cost(key[2], key[3], key[0].epochs) for key, members in groups.items()
    }
    total = sum(costs[key] * len(members) for key, members in groups.items())
    stack_work = grid_stack_work(total, min_jobs, stack_work)
    jobs: list[StackJob] = []
    for key, members in groups.items():
        cost = costs[key]
        cap = max_stack_size(cost, device, stack_work)
        chunks: list[list[RunSpec]] = []
        if cap < len(members):  # cut: one seed per stack (one batch gather per step)
            by_seed: dict[int, list[RunSpec]] = {}
            for s in members:
                by_seed.setdefault(s.seed, []).append(s)
            for same_seed in by_seed.values():
                chunks += _even_chunks(same_seed, cap)
        else:
            chunks = [members]
        for chunk in chunks:
            order = {a: i for i, a in enumerate(dict.fromkeys(s.model.activation for s in chunk))}
            chunk = sorted(chunk, key=lambda s: order[s.model.activation])  # stable
            jobs.append(StackJob(tuple(chunk), cost * len(chunk)))
    while len(jobs) < min_jobs:
        splittable = [j for j in jobs if len(j.specs) > 1]
        if not splittable:
            break
        big = max(splittable, key=lambda j: j.cost)
        jobs.remove(big)
        jobs += _halves(big)
    return sorted(jobs, key=lambda j: -j.cost)


def _halves(job: StackJob) -> list[StackJob]:
    """A stack cut in two: whole seeds to each half where it holds several seeds."""
    seeds = list(dict.fromkeys(s.seed for s in job.specs))
    if len(seeds) > 1:
        first = set(seeds[: len(seeds) // 2])
        parts = [
            [s for s in job.specs if s.seed in first],
            [s for s in job.specs if s.seed not in first],
        ]
    else:
        half = len(job.specs) // 2
        parts = [list(job.specs[:half]), list(job.specs[half:])]
    per_model = job.cost / len(job.specs)
    return [StackJob(tuple(p), per_model * len(p)) for p in parts]


def _even_chunks(items: list, cap: int) -> list[list]:
    n = -(-len(items) // cap)
    size = -(-len(items) // n)
    return [items[i : i + size] for i in range(0, len(items), size)]


class LaterSpecs(Protocol):
    """Runs that become known while the grid trains (the formula runs of a suite whose
    discoveries are still running): :func:`run_grid` trains what it has and asks for more."""

    def pending(self) -> bool:
        """True while more specs may still come."""
        ...

    def collect(self, timeout: float | None) -> list[RunSpec]:
        """Specs released since the last call, waiting up to ``timeout`` s (None: until some
        news); called from the thread that owns the store."""
        ...


def run_grid(
    specs: Sequence[RunSpec],
    store: ResultsStore,
    data: DataCache,
    *,
    device: str = "cpu",
    progress: ProgressFn | None = None,
    executor: Executor | None = None,
    later: LaterSpecs | None = None,
    stack_work: float = STACK_WORK,
    retry_failed: bool = False,
) -> GridSummary:
    """Train every spec not yet in the store, in stacks, committing each run as it finishes.

    A stored run that failed for a transient reason (``executors.failure_kind``) counts as
    not in the store; with ``retry_failed`` every failed one does. Every spec's DataSpec
    must carry its data's fingerprint (``DataCache.identify``).

    Stacks are planned by :func:`plan_jobs` and trained by ``executor`` (default: a
    :class:`LocalExecutor` on ``device``), the costliest first; only this thread writes to
    the store. Specs from ``later`` join as they are released, in stacks of their own. A
    stack that raises (or whose worker is lost) has its runs stored as failed with the
    reason, and the grid goes on. A KeyboardInterrupt propagates once the runs already
    finished are committed; stacks in flight are cancelled and a rerun trains them again.
    """
    from symact.training import resolve_device

    start = time.perf_counter()
    device = str(resolve_device(device))
    executor = executor or LocalExecutor(device)
    grid = _Grid(store, data, device, progress, stack_work, executor.reports_epochs, retry_failed)
    first = grid.add(specs)
    executor.start(data, first, grid.on_epochs)
    more = later is not None and later.pending()
    if isinstance(executor, LocalExecutor):
        executor.grow(more)
    ready = list(first)
    cancel = True
    try:
        while True:
            while ready and executor.in_flight() < executor.slots:
                executor.submit(ready.pop(0))
            waiting = later is not None and later.pending()
            if not executor.in_flight() and not waiting:
                break
            if executor.in_flight():
                for job, result in executor.wait(timeout=0.05 if waiting else None):
                    grid.commit(job, result)
            if waiting:
                new = grid.add(later.collect(timeout=0.0 if executor.in_flight() else None))
                ready = sorted([*ready, *new], key=lambda j: -j.cost)
        cancel = False
    finally:
        executor.close(cancel=cancel)
    return grid.summary(time.perf_counter() - start)


class _Grid:
    """The runner's bookkeeping: what is planned, what is stored, the progress counters."""

    def __init__(self, store, data, device, progress, stack_work, reports_epochs, retry) -> None:
        self.store, self.data, self.device = store, data, device
        self.reports_epochs = reports_epochs
        self.progress, self.stack_work = progress, stack_work
        self.seen: set[str] = set()
        self.total = self.trained = self.failed = 0
        self.epochs = self.done = 0
        self.first_failure: str | None = None
        self.retry_failed = retry
        self._lock = threading.Lock()

    def shape(self, spec: RunSpec) -> Shape:
        split = self.data.split(spec.data, spec.split)
        return int(split.X_train.shape[1]), int(split.X_train.shape[0])

    def add(self, specs: Sequence[RunSpec]) -> list[StackJob]:
        check_identified((s.data for s in specs), self.data)
        fresh = {s.key(): s for s in specs if s.key() not in self.seen}
        self.seen.update(fresh)
        self.total += len(fresh)
        missing = [fresh[k] for k in self.store.missing_runs(fresh, retry_failed=self.retry_failed)]
        cores = (os.cpu_count() or 1) if self.device == "cpu" else 1
        jobs = plan_jobs(missing, self.shape, self.device, self.stack_work, min_jobs=cores)
        with self._lock:
            self.epochs += sum(j.epochs for j in jobs)
        self._report()
        return jobs

    def on_epochs(self, n: int) -> None:
        with self._lock:
            self.done += n
        self._report()

    def _report(self) -> None:
        if self.progress:
            self.progress("training", self.done, self.epochs)

    def commit(self, job: StackJob, result) -> None:
        if isinstance(result, BaseException):  # the executor lost the stack (Ray)
            records = failed_records(job, result, self.device, lambda s: self.shape(s)[0])
        else:
            records = result
        if isinstance(result, BaseException) or not self.reports_epochs:
            with self._lock:  # the job's epochs, not reported one by one: count them done
                self.done = min(self.epochs, self.done + job.epochs)
            self._report()
        for spec, record in zip(job.specs, records, strict=True):
            self.store.put_run(spec.key(), spec.to_dict(), record)
            self.trained += 1
            if record.get("failed"):
                self.failed += 1
                self.first_failure = self.first_failure or record.get("failure_reason")

    def summary(self, seconds: float) -> GridSummary:
        stored = self.store.stored_runs(self.seen)
        return GridSummary(
            total=self.total,
            skipped=self.total - self.trained,
            trained=self.trained,
            failed=self.failed,
            seconds=seconds,
            first_failure=self.first_failure,
            failed_stored=sum(bool(r.get("failed")) for r in stored.values()),
        )
