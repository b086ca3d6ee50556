"""Where stacks of runs train: the executor seam.

Planning (which runs are missing, how they group into stacks) is a pure function of the
specs, the data's shapes and the store (``runner.plan_jobs``); an :class:`Executor` only
decides where each :class:`StackJob` trains and hands back its results. The
:class:`LocalExecutor` trains stacks on threads of this process (one per core, each stack
single-threaded, as the CPU benchmarks measured best); ``ray_executor.RayExecutor`` trains
them as Ray tasks on a cluster. Either way :func:`train_job` is the unit of work, and the
results come back to the runner, which alone writes the store.
"""

from __future__ import annotations

import os
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from functools import cache
from typing import Any

import numpy as np

from symact.experiments.datacache import DataCache
from symact.experiments.specs import RunSpec
from symact.numbers import finite_or_none

EpochsFn = Callable[[int], None]
"""Called with a number of model-epochs just finished (drives the progress bar)."""


@dataclass(frozen=True)
class StackJob:
    """Runs that train together in one stack: one network structure, data shape, settings."""

    specs: tuple[RunSpec, ...]
    cost: float  # ModelSpec.cost summed: the scheduler starts the costliest first

    @property
    def epochs(self) -> int:
        """Model-epochs this job trains."""
        return sum(s.train.epochs for s in self.specs)


@cache
def environment() -> dict[str, str]:
    """Versions that produced a result, recorded beside it."""
    import platform

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


def result_record(outcome: Any, device: str, host: str | None = None) -> dict[str, Any]:
    """A run's stored result: its TrainOutcome's fields as JSON values, plus where and with
    which versions it ran."""
    result = {
        k: finite_or_none(v) for k, v in asdict(outcome).items() if k not in ("model", "label")
    }
    result["loss_history"] = [finite_or_none(v) for v in result.get("loss_history") or ()]
    result["learned_formulas"] = list(result.get("learned_formulas") or ())
    if result.get("failed"):  # the training's own verdict: a non-finite loss, every time
        result["failure_kind"] = DETERMINISTIC
    result["device"] = device
    result["host"] = host or os.uname().nodename
    result["environment"] = environment()
    result["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return result


#: how a failed run is stored (``failure_kind``): a transient failure (a lost worker, a
#: killed process, memory ran out, an interrupt) is trained again by the next run of the
#: command; a deterministic one (a non-finite loss, a formula that fails on this data)
#: would only fail again, so it stays failed until ``--retry-failed``
TRANSIENT, DETERMINISTIC = "transient", "deterministic"


class TransientFailure(RuntimeError):
    """A stack that did not train for a reason of the moment, not of its runs (a Ray task
    whose worker or node died on every attempt): its runs are retried by a rerun."""


#: words of an out-of-memory error from an allocator that raises RuntimeError (torch's CPU
#: allocator says "DefaultCPUAllocator: not enough memory" or "can't allocate memory")
_OUT_OF_MEMORY = ("out of memory", "not enough memory", "can't allocate memory")


def failure_kind(exc: BaseException) -> str:
    """:data:`TRANSIENT` or :data:`DETERMINISTIC`: whether a rerun may succeed.

    Transient: a :class:`TransientFailure`, an interrupt, MemoryError, torch's and Ray's
    ``OutOfMemoryError``, an allocator's out-of-memory RuntimeError. Anything else raised
    by a run's own training (a formula that fails on these rows, a batch BatchNorm
    refuses) would fail the same way again.
    """
    if isinstance(exc, (TransientFailure, KeyboardInterrupt, MemoryError)):
        return TRANSIENT
    if type(exc).__name__ == "OutOfMemoryError":  # torch.OutOfMemoryError, Ray's
        return TRANSIENT
    if isinstance(exc, RuntimeError) and any(w in str(exc).lower() for w in _OUT_OF_MEMORY):
        return TRANSIENT
    return DETERMINISTIC


def failed_records(
    job: StackJob, exc: BaseException, device: str, n_features: Callable[[RunSpec], int]
) -> list[dict[str, Any]]:
    """The stored results of a stack that could not train: each run failed, with the
    exception's line and kind. The one way failed-stack records are made, whether the
    training raised (:func:`train_job`) or the executor lost the stack (the runner)."""
    reason, kind = describe_failure(exc), failure_kind(exc)
    return [
        {
            "accuracy": None,
            "auc": None,
            "params": spec.model.param_count(n_features(spec)),
            "efficiency": None,
            "failed": True,
            "failure_reason": reason,
            "failure_kind": kind,
            "epochs_run": 0,
            "loss_history": [],
            "learned_formulas": [],
            "device": device,
            "environment": environment(),
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        for spec in job.specs
    ]


def train_job(
    job: StackJob,
    data: DataCache,
    device: str = "cpu",
    threads: int | None = None,
    on_epochs: EpochsFn | None = None,
) -> list[dict[str, Any]]:
    """Train one stack and return each run's result record, in the job's order.

    An exception of the training becomes failed records here, where its traceback is (a
    Ray driver would get a copy without one), the same on every executor; an interrupt
    propagates.
    """
    try:
        return _train_job(job, data, device, threads, on_epochs)
    except Exception as exc:
        return failed_records(job, exc, device, lambda s: data.dataset(s.data).n_features)


def _train_job(job, data, device, threads, on_epochs) -> list[dict[str, Any]]:
    from symact.formula import make_activation  # noqa: F401  (warms the formula stage)
    from symact.training import TrainTask, train_stack

    tasks = []
    for spec in job.specs:
        split = data.split(spec.data, spec.split)
        tasks.append(
            TrainTask(
                split.X_train,
                split.y_train,
                split.X_test,
                split.y_test,
                spec.model,
                spec.seed,
                label=spec.key(),
            )
        )
    outcomes = train_stack(tasks, job.specs[0].train, device, on_epochs, threads=threads)
    return [result_record(o, device) for o in outcomes]


Finished = tuple[StackJob, "list[dict[str, Any]] | BaseException"]


class Executor(ABC):
    """Trains :class:`StackJob` s somewhere and hands back their results.

    ``submit`` must not block for long; ``wait`` returns the jobs finished since the last call
    (their result records, or the exception that stopped them), waiting up to ``timeout``
    seconds for the first (None: until one finishes). ``slots`` is how many jobs it wants in
    flight. The runner calls ``close`` once, with ``cancel`` when it stops early.
    """

    device: str = "cpu"
    #: True when jobs call ``on_epochs`` as they train (else the runner counts whole jobs)
    reports_epochs: bool = False

    @property
    @abstractmethod
    def slots(self) -> int: ...

    @abstractmethod
    def submit(self, job: StackJob) -> None: ...

    @abstractmethod
    def wait(self, timeout: float | None) -> list[Finished]: ...

    @abstractmethod
    def in_flight(self) -> int: ...

    def start(self, data: DataCache, jobs: Sequence[StackJob], on_epochs: EpochsFn) -> None:  # noqa: B027
        """Called once before the first ``submit`` with the data and the first plan (a hook:
        executors that need nothing there keep this)."""

    def close(self, cancel: bool = False) -> None:  # noqa: B027  (optional hook)
        """Release workers; with ``cancel``, abandon what is in flight."""


class LocalExecutor(Executor):
    """Stacks on threads of this process; ctypes kernels and torch release the GIL.

    On a CPU, small models keep one core busy each far better than they share two (measured
    on 2 cores: the paper's grid trains ~1.4x faster as two single-threaded stacks side by
    side than as one two-threaded stack after another), so there is one worker per core and
    each stack runs single-threaded, unless there are fewer stacks than cores. A GPU takes
    one stack at a time.
    """

    reports_epochs = True

    def __init__(self, device: str = "cpu", workers: int | None = None) -> None:
        self.device = device
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._futures: dict[Future, StackJob] = {}

    @property
    def slots(self) -> int:
        return self._n_workers

    def start(self, data: DataCache, jobs: Sequence[StackJob], on_epochs: EpochsFn) -> None:
        import torch

        self.data, self.on_epochs = data, on_epochs
        cores = os.cpu_count() or 1
        if self.device != "cpu":
            n, threads = 1, torch.get_num_threads()
        elif self.workers is not None:
            n = max(1, self.workers)
            threads = max(1, cores // n)
        else:
            n = max(1, min(cores, 4, max(len(jobs), 1)))
            threads = max(1, cores // n) if len(jobs) < cores else 1
        self._n_workers, self.threads = n, threads
        # torch's intra-op thread count is one setting per process: set here once, not by
        # each stack (stacks on several threads would race to set and restore it)
        self._old_threads = torch.get_num_threads()
        torch.set_num_threads(threads)
        self._pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="symact-stack")

    def grow(self, more_jobs_coming: bool) -> None:
        """Jobs will keep arriving (formula runs after discovery): one worker per core."""
        if more_jobs_coming and self.device == "cpu":
            cores = os.cpu_count() or 1
            self._n_workers, self.threads = max(self._n_workers, min(cores, 4)), 1
            assert self._pool is not None
            self._pool._max_workers = max(self._pool._max_workers, self._n_workers)
            import torch

            torch.set_num_threads(1)

    def submit(self, job: StackJob) -> None:
        assert self._pool is not None, "start() first"
        future = self._pool.submit(train_job, job, self.data, self.device, None, self.on_epochs)
        self._futures[future] = job

    def in_flight(self) -> int:
        return len(self._futures)

    def wait(self, timeout: float | None) -> list[Finished]:
        if not self._futures:
            return []
        done, _ = wait(self._futures, timeout=timeout, return_when=FIRST_COMPLETED)
        out: list[Finished] = []
        for future in done:
            job = self._futures.pop(future)
            exc = future.exception()
            out.append((job, exc if exc is not None else future.result()))
        return out

    def close(self, cancel: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=not cancel, cancel_futures=cancel)
            self._pool = None
            import torch

            torch.set_num_threads(self._old_threads)


def describe_failure(exc: BaseException) -> str:
    """One line for a stored failure: the exception's type and message (last frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}".splitlines()[0][:500]
