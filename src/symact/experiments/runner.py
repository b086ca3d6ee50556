"""Run discoveries and training grids against the results store, skipping what is stored.

The runner turns specs into work: it loads each dataset once, splits it once per seed,
asks the store which runs are missing, lets the trainer group those into stacks of models
trained together, and commits every run's result the moment its stack finishes. It
decides nothing about where work runs beyond the local device: an executor for a cluster
takes the same missing specs.
"""

from __future__ import annotations

import itertools
import os
import platform
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from functools import cache
from typing import Any, Protocol

import numpy as np
import torch

from symact.data import Split
from symact.discovery import Discovery, discover_gplearn
from symact.experiments.datacache import DataCache
from symact.experiments.specs import DiscoverySpec, RunSpec
from symact.experiments.store import ResultsStore
from symact.formula import make_activation
from symact.training import TrainConfig, TrainTask, plan_stacks, resolve_device, train_stack
from symact.training.kernels import prebuild as prebuild_kernels

ProgressFn = Callable[[str, int, int], None]
"""Called as ``progress(description, done, total)``; the CLI draws it as a bar."""


@cache
def environment() -> dict[str, str]:
    """Versions that produced a result, recorded beside it."""
    import gplearn
    import sklearn
    import torch

    import symact

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "gplearn": gplearn.__version__,
        "scikit-learn": sklearn.__version__,
        "symact": symact.__version__,
    }


def discover(spec: DiscoverySpec, data: DataCache, store: ResultsStore) -> Discovery:
    """The stored discovery for ``spec``, or a new one, committed before it is returned."""
    stored = store.get_discovery(spec.key())
    if stored is not None:
        return Discovery.from_dict(stored)
    ds = data.dataset(spec.data)
    found = discover_gplearn(ds.X, ds.y, dataset=ds.display_name, settings=spec.settings)
    store_discovery(spec, found, store)
    return found


def store_discovery(spec: DiscoverySpec, found: Discovery, store: ResultsStore) -> None:
    """Commit a discovery under its spec's key, with the versions that produced it."""
    record = found.to_dict() | {"environment": environment()}
    store.put_discovery(spec.key(), {"data": spec.data.to_dict(), "method": spec.method}, record)


@dataclass(frozen=True)
class GridSummary:
    """What one call of :func:`run_grid` did."""

    total: int
    skipped: int
    trained: int
    failed: int
    seconds: float


def _task(spec: RunSpec, split: Split) -> TrainTask:
    return TrainTask(
        X_train=split.X_train,
        y_train=split.y_train,
        X_test=split.X_test,
        y_test=split.y_test,
        widths=spec.widths,
        activation=make_activation(spec.activation),
        seed=spec.seed,
        label=spec.key(),
    )


def _finite_or_none(value: Any) -> Any:
    """NaN and inf become None so results.json stays valid JSON."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _result(outcome: Any, device: str) -> dict[str, Any]:
    result = {
        k: _finite_or_none(v) for k, v in asdict(outcome).items() if k not in ("model", "label")
    }
    result["loss_history"] = [_finite_or_none(v) for v in result.get("loss_history") or ()]
    result["device"] = device
    result["environment"] = environment()
    result["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return result


def model_cost(task: TrainTask, config: TrainConfig) -> float:
    """Relative training work of one model: rows x epochs x weights per row."""
    dims = (task.X_train.shape[1], *task.widths, 1)
    weights = sum(a * b for a, b in itertools.pairwise(dims))
    return float(task.X_train.shape[0] * config.epochs * weights)


STACK_WORK = 2e10
"""On a CPU, the most work (in :func:`model_cost` units) one stack is given: about 2.5 s on
one core of the 2-core machine the benchmarks run on (a covertype Light model is 6.6e9, a
Heavy one 3.7e10)."""


def max_stack_size(model_cost: float, device: str, stack_work: float = STACK_WORK) -> int:
    """How many models of this cost share a stack.

    On a CPU each stack runs on one core, and the grid ends when the last stack does: a
    stack holding all three covertype Heavy models (~12 s on one core) was the whole suite's
    critical path while the other core ran out of work. So long trainings are cut into
    stacks of at most ``stack_work`` (default :data:`STACK_WORK`): Heavy models one by one
    (a Heavy model's step costs the same alone as among 3), Light ones by three (per model, a
    step costs ~30% more alone and the same from 2 to 8; measured on 2 cores). Short
    trainings stay in large stacks, where the per-step overhead, paid once per stack, is what
    costs. A GPU takes whole stacks.
    """
    if device != "cpu":
        return 64
    return int(max(1, min(64, stack_work // max(model_cost, 1.0))))


def grid_workers(device: str, n_stacks: int) -> tuple[int, int]:
    """How many stacks train at once, and torch threads for each.

    On a CPU, stacks of small models keep one core busy each far better than they share two
    (measured on 2 cores: the paper's grid trains ~1.4x faster as two single-threaded stacks
    side by side than as one two-threaded stack after another). A GPU takes one at a time.
    """
    if device != "cpu" or n_stacks < 2:
        return 1, torch.get_num_threads()
    cores = os.cpu_count() or 1
    workers = max(1, min(n_stacks, cores, 4))
    return workers, max(1, cores // workers)


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
    workers: int | None = None,
    later: LaterSpecs | None = None,
    stack_work: float = STACK_WORK,
) -> GridSummary:
    """Train every spec not yet in the store, in stacks, committing each run as it finishes.

    Stacks run ``workers`` at a time in threads, the costliest ready stack first; only this
    thread writes to the store. Specs from ``later`` join as they are released, in stacks of
    their own. A KeyboardInterrupt propagates once the runs already finished are committed;
    stacks still in flight are abandoned and a rerun trains them again.
    """
    start = time.perf_counter()
    device = str(resolve_device(device))
    seen: set[str] = set()
    tasks: list[TrainTask] = []
    missing: list[RunSpec] = []
    ready: list[tuple[float, TrainConfig, list[int]]] = []
    counts = {"total": 0, "epochs": 0, "done": 0, "failed": 0}
    lock = threading.Lock()

    def on_epochs(n: int) -> None:
        with lock:
            counts["done"] += n
            done, total = counts["done"], counts["epochs"]
        if progress:
            progress("training", done, total)

    def add(new_specs: Sequence[RunSpec]) -> None:
        """Plan the missing ones of ``new_specs`` into stacks on the ready list."""
        fresh = {s.key(): s for s in new_specs if s.key() not in seen}
        seen.update(fresh)
        counts["total"] += len(fresh)
        first = len(missing)
        missing.extend(fresh[k] for k in store.missing_runs(fresh))
        tasks.extend(_task(s, data.split(s.data, s.seed, s.test_size)) for s in missing[first:])
        if device == "cpu":
            prebuild_kernels(t.activation for t in tasks[first:])
        # different settings never share a stack; each shape gets its own stack size
        groups: dict[tuple, list[int]] = {}
        for i in range(first, len(missing)):
            t = tasks[i]
            key = (missing[i].train, t.widths, t.n_features, t.n_train)
            groups.setdefault(key, []).append(i)
        for (config, *_), members in groups.items():
            cost = model_cost(tasks[members[0]], config)
            cap = max_stack_size(cost, device, stack_work)
            # cut stacks (long CPU trainings) hold one seed each: one batch gather per step
            by_seed = cap < len(members)
            stacks = plan_stacks([tasks[i] for i in members], max_stack=cap, group_by_seed=by_seed)
            for stack in stacks:
                idx = [members[j] for j in stack]
                ready.append((cost * len(idx), config, idx))
        ready.sort(key=lambda item: -item[0])
        with lock:
            counts["epochs"] += sum(missing[i].train.epochs for i in range(first, len(missing)))
        if progress:
            progress("training", counts["done"], counts["epochs"])

    add(specs)
    if later is not None and later.pending():
        n_workers = (os.cpu_count() or 1) if device == "cpu" else 1
        threads = 1 if device == "cpu" else torch.get_num_threads()
    else:
        n_workers, threads = grid_workers(device, len(ready))
    if workers is not None:
        n_workers = max(1, workers)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    pool = ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="symact-stack")
    in_flight: dict[Future, list[int]] = {}
    try:
        while True:
            while ready and len(in_flight) < n_workers:
                _, config, idx = ready.pop(0)
                stack_tasks = [tasks[i] for i in idx]
                in_flight[pool.submit(train_stack, stack_tasks, config, device, on_epochs)] = idx
            waiting = later is not None and later.pending()
            if not in_flight and not waiting:
                break
            if in_flight:
                done, _ = wait(
                    in_flight, timeout=0.05 if waiting else None, return_when=FIRST_COMPLETED
                )
                for future in done:
                    idx = in_flight.pop(future)
                    for i, outcome in zip(idx, future.result(), strict=True):
                        spec = missing[i]
                        store.put_run(spec.key(), spec.to_dict(), _result(outcome, device))
                        counts["failed"] += bool(outcome.failed)
            if waiting:
                add(later.collect(timeout=0.0 if in_flight else None))
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    else:
        pool.shutdown(wait=True)
    finally:
        torch.set_num_threads(old_threads)
    return GridSummary(
        total=counts["total"],
        skipped=counts["total"] - len(missing),
        trained=len(missing),
        failed=counts["failed"],
        seconds=time.perf_counter() - start,
    )
