"""Stacks as Ray tasks: the same grid, or the same search, on a cluster.

:class:`RayExecutor` is an :class:`~symact.experiments.executors.Executor`: the runner plans
the stacks and commits every run on the driver, as it does with local threads; this module
only decides that each stack trains as one Ray task, somewhere in a Ray cluster. A task runs
:func:`~symact.experiments.executors.train_job`, the same unit of work the local executor
runs, on datasets put in Ray's object store once per dataset (each node fetches its copy
once), so a run trained here equals the same run trained locally.

Faults follow Ray's task model: a worker or node lost mid-task is retried by Ray
(``max_retries``) and, if it keeps failing, the stack's runs are stored as failed with the
reason, as transient failures that the next run of the command trains again; an exception
raised by the training itself is stored at once, not retried (it would only fail again).
Ctrl-C cancels the tasks in flight; every committed run stays in the
store and the same command resumes.

Ray is an optional dependency (``pip install "symact[ray]"``): this module imports it only
inside its functions, so :func:`check_ray_installed` can say how to get it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import socket
import sys
import threading
from collections.abc import Iterator, Sequence
from functools import cache
from typing import Any

from symact.data import Dataset
from symact.errors import UserError
from symact.experiments.datacache import DataCache
from symact.experiments.executors import (
    EpochsFn,
    Executor,
    Finished,
    StackJob,
    TransientFailure,
    train_job,
)
from symact.experiments.specs import DataSpec

#: the oldest Ray this executor is written for (pyproject's extra says the same)
MIN_RAY = (2, 9)
INSTALL = 'pip install "symact[ray]"'
#: how many times Ray reruns a stack whose worker or node died before its runs are stored
#: as failed (Ray's default for tasks)
MAX_RETRIES = 3
#: the most stacks in flight, however large the cluster: every one holds its job on the
#: driver and a result slot in Ray's memory, and the driver commits one result at a time
MAX_IN_FLIGHT = 1024
#: the Ray task's name: workers show it as their process title (``ray::symact_stack``)
TASK_NAME = "symact_stack"
#: seconds to wait for a cluster's head to answer before --ray-address is reported wrong
CONNECT_TIMEOUT = 10.0


class RayNotInstalled(UserError, ValueError):
    """``--executor ray`` without Ray (or with one too old): the message says what to run."""


class RayConnectError(UserError, ValueError):
    """The Ray cluster named by ``--ray-address`` cannot be reached."""


def check_ray_installed() -> None:
    """Raise :class:`RayNotInstalled` unless a usable Ray can be imported.

    Looks without importing Ray (~0.5 s), so the check can run before the CLI forks.
    """
    try:
        found = importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):  # a broken or blocked ray module counts as missing
        found = False
    if not found:
        raise RayNotInstalled(f"--executor ray needs Ray, which is not installed: {INSTALL}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        have = version("ray")
    except PackageNotFoundError:
        return  # importable but not from a distribution (a source tree): trust it
    if _version_tuple(have) < MIN_RAY:
        raise RayNotInstalled(
            f"--executor ray needs Ray >= {'.'.join(map(str, MIN_RAY))}, found {have}: "
            f'pip install -U "symact[ray]"'
        )


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:2]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


# --------------------------------------------------------------------------- the task


def stack_task(
    job: StackJob, device: str, threads: int, specs: tuple[DataSpec, ...], *datasets: Dataset
) -> list[dict[str, Any]]:
    """Runs inside a Ray worker: train one stack on the shipped datasets.

    Ray resolves the dataset references before the call (from this node's object store,
    fetched once per node), and the worker process stays alive for the next task, so torch
    is imported and the fused kernels built once per worker. Each record says which Ray
    node and worker process trained it.
    """
    import ray
    import torch

    torch.set_num_threads(threads)  # Ray sets OMP_NUM_THREADS; torch may still see all cores
    data = DataCache.of(dict(zip(specs, datasets, strict=True)))
    records = train_job(job, data, device, threads)  # the training's errors as failed runs
    node = ray.get_runtime_context().get_node_id()
    for record in records:
        record["ray_node"] = node
        record["worker_pid"] = os.getpid()
    return records


@cache
def _remote_task():
    """:func:`stack_task` as a Ray remote function (made once, after Ray is imported).

    ``max_calls=0`` keeps a worker for the next task, GPU or not (Ray would otherwise start a
    fresh process per GPU task: ~1.5 s of torch import each). ``retry_exceptions=False``:
    an error that escapes the task (not the training's, which ``train_job`` records) would only
    fail again.
    """
    import ray

    return ray.remote(max_calls=0, retry_exceptions=False)(stack_task)


# --------------------------------------------------------------------------- the executor


class RayExecutor(Executor):
    """Each stack a Ray task; results handed back to the runner as tasks complete.

    ``threads`` is each task's CPU count (``num_cpus``) and torch thread count: one, as on
    the local executor, since small models keep one core busy best. On ``cuda`` each task
    also asks for one GPU. ``slots`` (tasks in flight) is the cluster's CPUs (or GPUs) per
    task when the grid starts, at most ``max_in_flight``; ``ray.wait`` hands back whatever
    completes, and the runner submits the next stack as each comes back.
    """

    reports_epochs = False  # a task reports once, at the end: the runner counts its epochs

    def __init__(
        self,
        device: str = "cpu",
        *,
        threads: int = 1,
        max_retries: int = MAX_RETRIES,
        max_in_flight: int = MAX_IN_FLIGHT,
        connection: RayConnection | None = None,
    ) -> None:
        self.device = device
        self.threads = max(1, threads)
        self.max_retries = max_retries
        self.max_in_flight = max(1, max_in_flight)
        self.connection = connection
        self._slots = 1
        self._data: DataCache | None = None
        self._refs: dict[DataSpec, Any] = {}  # dataset -> ObjectRef, put once per DataCache
        self._tasks: dict[Any, StackJob] = {}  # ObjectRef of a task's result -> its job

    @classmethod
    @contextlib.contextmanager
    def connect(
        cls, address: str | None = None, device: str = "cpu", **options: Any
    ) -> Iterator[RayExecutor]:
        """An executor on a Ray cluster, for the duration of a ``with`` block.

        ``address`` None starts a local Ray instance with every core of this machine, shut
        down (all its processes) when the block ends; ``"auto"`` or ``host:port`` joins a
        running cluster, which is left running (this driver only disconnects). Where this
        process is already connected to Ray (a notebook, a test), that connection is used
        and left open. Ray starts in the background (:class:`RayConnection`): the block
        runs at once, and :meth:`ready` (called by the first grid) waits for Ray and raises
        what went wrong, e.g. :class:`RayConnectError`. ``device``: ``auto``, ``cpu`` or
        ``cuda``, resolved on this machine when a grid starts, as the runner resolves it.
        ``options`` go to :class:`RayExecutor`.
        """
        ray = sys.modules.get("ray")  # not imported yet: certainly not connected
        if ray is not None and ray.is_initialized():
            yield cls(device, **options)
            return
        connection = RayConnection(address)
        executor = cls(device, connection=connection, **options)
        try:
            yield executor
        finally:
            executor._refs.clear()  # the datasets leave the object store before Ray goes
            connection.close()

    def ready(self) -> None:
        """Wait until Ray is up; raise the error that stopped it (a bad ``--ray-address``)."""
        if self.connection is not None:
            self.connection.wait()

    @property
    def slots(self) -> int:
        return self._slots

    def start(self, data: DataCache, jobs: Sequence[StackJob], on_epochs: EpochsFn) -> None:
        self.ready()
        import ray

        from symact.training import resolve_device

        self.device = str(resolve_device(self.device))
        if data is not self._data:  # another cache may hold other rows under one DataSpec
            self._data, self._refs = data, {}
        resources = ray.cluster_resources()
        if self.device == "cpu":
            per_task = int(resources.get("CPU", 1)) // self.threads
        else:
            per_task = int(resources.get("GPU", 1))
        self._slots = max(1, min(self.max_in_flight, per_task))

    def _dataset_refs(self, specs: Sequence[DataSpec]) -> list[Any]:
        """The object-store references of these datasets, each put once."""
        import ray

        assert self._data is not None, "start() first"
        for spec in specs:
            if spec not in self._refs:
                self._refs[spec] = ray.put(self._data.dataset(spec))
        return [self._refs[spec] for spec in specs]

    def submit(self, job: StackJob) -> None:
        specs = tuple(dict.fromkeys(s.data for s in job.specs))
        task = _remote_task().options(
            name=TASK_NAME,
            num_cpus=self.threads,
            num_gpus=0 if self.device == "cpu" else 1,
            max_retries=self.max_retries,
        )
        ref = task.remote(job, self.device, self.threads, specs, *self._dataset_refs(specs))
        self._tasks[ref] = job

    def in_flight(self) -> int:
        return len(self._tasks)

    def wait(self, timeout: float | None) -> list[Finished]:
        import ray

        if not self._tasks:
            return []
        pending = list(self._tasks)
        ready, _ = ray.wait(pending, num_returns=1, timeout=timeout)
        if ready:  # and every other task already complete
            ready, _ = ray.wait(pending, num_returns=len(pending), timeout=0)
        out: list[Finished] = []
        for ref in ready:
            job = self._tasks.pop(ref)
            try:
                out.append((job, ray.get(ref)))
            except Exception as exc:  # the task's error, or its worker's loss
                out.append((job, task_failure(exc, self.max_retries)))
        return out

    def close(self, cancel: bool = False) -> None:
        """Stop waiting for what is in flight. On Ctrl-C (``cancel``) on a cluster this
        process joined, each task is cancelled (it gets a KeyboardInterrupt and its worker
        stays up for this process's next grid). A local instance of this executor's own is
        not cancelled: it is shut down with its ``with`` block, every process with it, and
        Ray's cancellation can race with a task's completion and abort the driver
        (``Check failed: it != submissible_tasks_.end()``, ray-project/ray#54798), turning a
        clean Ctrl-C into a crash with a stack trace and exit status 1."""
        owned = self.connection is not None and self.connection.address is None
        if cancel and not owned:
            import ray

            for ref in self._tasks:
                with contextlib.suppress(Exception):  # already finished or lost
                    ray.cancel(ref)
        self._tasks.clear()


class StackLost(TransientFailure):
    """A stack's task whose worker (or node) died on every attempt: its runs are stored as
    transient failures, trained again by the next run of the command."""


def task_failure(exc: BaseException, max_retries: int) -> BaseException:
    """The exception stored for a task that returned nothing: lost, or failed outside the
    training (whose own errors ``train_job`` records as failed runs).

    An error raised in the task comes back wrapped (``RayTaskError``); its cause is the
    error itself. Any other Ray error means the task's worker or node died on each of
    ``max_retries + 1`` attempts.
    """
    import ray.exceptions

    if isinstance(exc, ray.exceptions.RayTaskError):
        cause = exc.cause if isinstance(exc.cause, BaseException) else None
        return cause if cause is not None else RuntimeError(str(exc).splitlines()[-1])
    if isinstance(exc, ray.exceptions.RayError):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        attempts = max_retries + 1
        return StackLost(
            f"the Ray task was lost on {attempts} attempt{'s' * (attempts > 1)} "
            f"({type(exc).__name__}: {first})"
        )
    return exc


class RayConnection:
    """Ray started (or joined) on a thread of its own, which lives until Ray is shut down.

    ``ray.init`` takes ~5 s to start a local instance (its server processes, two agents,
    the first workers) and ~1 s to join a cluster; on its own thread that overlaps the
    command's imports and data loading where there are cores to spare (on 2 cores, both busy
    importing, an A/B of the builtin suite measured no difference). The thread stays alive
    until :meth:`close`: Ray's server processes are tied to the thread that started them
    (Linux's parent-death signal follows the creating thread), and it is also the thread
    that shuts them down. Started off the main thread, Ray leaves this process's signal
    handlers alone (on the main thread it replaces SIGTERM's, which symact treats as
    Ctrl-C).
    """

    def __init__(self, address: str | None) -> None:
        self.address = address
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="symact-ray", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            _init(self.address)
        except BaseException as exc:  # handed to the thread that waits for Ray
            self._error = exc
        finally:
            self._ready.set()
        if self._error is None:
            self._stop.wait()
        ray = sys.modules.get("ray")
        if ray is not None and ray.is_initialized():  # a failed start may have begun
            ray.shutdown()

    def wait(self) -> None:
        """Block until Ray is up; raise what stopped it."""
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Shut down a local instance, or disconnect from a cluster; return when done."""
        self._stop.set()
        self._thread.join()


def _init(address: str | None) -> None:
    """Start a local Ray instance (``address`` None) or join the cluster at ``address``."""
    import ray

    quiet = {"logging_level": logging.WARNING, "log_to_driver": True}
    # off the main thread Ray warns that it set no SIGTERM handler: that is the point
    logging.getLogger("ray._private.worker").addFilter(_no_sigterm_note)
    if address is None:
        # a Ray of its own for this command: nothing to report to Ray's usage statistics
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(
            address="local",  # never a cluster RAY_ADDRESS happens to name
            num_cpus=os.cpu_count(),
            include_dashboard=False,
            **quiet,
        )
        return
    try:
        _check_reachable(address)
        ray.init(address=address, **quiet)
    except (ConnectionError, ValueError, RuntimeError, OSError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RayConnectError(
            f"--ray-address {address}: cannot join a Ray cluster there ({detail}); start one "
            "with `ray start --head`, or leave out --ray-address to start a local one"
        ) from None


def _no_sigterm_note(record: logging.LogRecord) -> bool:
    return "SIGTERM handler is not set" not in record.getMessage()


def _check_reachable(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Raise ConnectionError unless the cluster's head answers a TCP connection.

    ray.init retries an unreachable head for about ten minutes; a wrong --ray-address (or
    a stale ``auto`` record of a stopped head) should fail at once. Ray's own address
    resolution turns ``auto`` into host:port; Ray Client addresses (``ray://``) are left
    to Ray.
    """
    if "://" in address:
        return
    from ray._private.services import canonicalize_bootstrap_address_or_die

    host, _, port = canonicalize_bootstrap_address_or_die(address).rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConnectionError(f"nothing answers at {host}:{port}: {exc}") from None
