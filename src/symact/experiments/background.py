"""Discovery in a child process, so that training can start before the formulas are known.

Why: gplearn is single-threaded Python. Run first, it leaves a core idle for seconds while
nothing else can start; in a thread beside training it would fight the trainer for the GIL.
A forked child has its own interpreter, inherits the loaded data without copying or
pickling it, and returns each :class:`~symact.discovery.Discovery` as a dict through a pipe.
The parent stores them (it owns the results store) and releases the runs that use them.

Results are identical to discovering in the parent: the same function runs on the same
arrays with the same seed. Where ``fork`` does not exist (Windows, macOS defaults) or there
is a single core, :func:`can_run_in_background` is False and suites discover in line.

The child can also build its jobs itself (a factory instead of a job list): the ``symact
benchmark`` command forks it before importing torch, scikit-learn and matplotlib, so the
child's own imports, data loading and gplearn run on the core the parent's imports leave
idle; the parent later adopts the running child (:meth:`DiscoveryProcess.adopt`) and checks
that it plans exactly the discoveries the store lacks (:meth:`DiscoveryProcess.plan`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

import numpy as np

from symact.discovery import Discovery, GplearnSettings, discover_with
from symact.errors import UserError


class DiscoveryProcessDied(UserError, ChildProcessError, RuntimeError):
    """The discovery child ended before it sent its results (killed, out of memory).

    Not a bug in symact but the machine's doing, which a rerun continues: a
    :class:`~symact.errors.UserError`, so the CLI reports it as one line (exit 2) naming
    what to do; a ChildProcessError and RuntimeError, as it was first raised.
    """


@dataclass(frozen=True)
class DiscoveryJob:
    """One dataset to discover on: its key in the store, data and display name."""

    key: str
    X: np.ndarray
    y: np.ndarray
    display_name: str
    settings: GplearnSettings
    onehot_blocks: tuple[tuple[int, ...], ...] = ()  # see Dataset.onehot_blocks
    method: str = "gplearn"  # the engine (symact.discovery.ENGINES)


def can_run_in_background() -> bool:
    """Fork exists and there is a core to spare for the child."""
    return "fork" in multiprocessing.get_all_start_methods() and (os.cpu_count() or 1) >= 2


Jobs = Sequence[DiscoveryJob] | Callable[[], Sequence[DiscoveryJob]]
"""The jobs, or a function the child calls to build them (see the module docstring)."""


def die_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when its parent dies (PR_SET_PDEATHSIG).

    A forked discovery child must not outlive a parent killed by SIGKILL (nothing of the
    parent's runs then, not even its ``finally``). Elsewhere there is no such call, and a
    child that finds its parent gone stops at its next check (:func:`serve`).
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG = 1


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def start_child(process: BaseProcess) -> None:
    """Start a forked child with SIGINT and SIGTERM held until it has its own handlers.

    A child forked from a process whose handlers raise (Ctrl-C's KeyboardInterrupt, the
    CLI's SIGTERM handler) and signalled before it reaches its target would raise inside
    ``fork``'s return path and carry on as a second copy of the parent. Held signals wait,
    and :func:`child_signals` (the child's first call) sets the child's own dispositions
    before letting them in.
    """
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        process.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def child_signals() -> None:
    """In a child started by :func:`start_child`: ignore Ctrl-C (the parent handles it and
    stops the child), die on SIGTERM, then take the held signals."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


def serve(jobs: Jobs, conn: Connection) -> None:
    """The child's side: send the plan (the jobs' keys), then each discovery as it finishes."""
    child_signals()
    parent = os.getppid()
    die_with_parent()
    if os.getppid() != parent:  # the parent died before the call took effect
        return
    try:
        todo = list(jobs() if callable(jobs) else jobs)
    except Exception as exc:  # sent to the parent, raised there
        conn.send(("error", None, exc))
        conn.close()
        return
    conn.send(("plan", [job.key for job in todo], None))
    for job in todo:
        try:
            found = discover_with(
                job.method,
                job.X,
                job.y,
                dataset=job.display_name,
                settings=job.settings,
                onehot_blocks=job.onehot_blocks,
            )
            conn.send(("ok", job.key, found.to_dict()))
        except Exception as exc:
            conn.send(("error", job.key, exc))
            break
    conn.close()


class DiscoveryProcess:
    """Runs jobs one after another in a forked child; :meth:`results` collects them."""

    def __init__(self, jobs: Jobs) -> None:
        ctx = multiprocessing.get_context("fork")
        conn, child_end = ctx.Pipe(duplex=False)
        process = ctx.Process(target=serve, args=(jobs, child_end), daemon=True)
        start_child(process)
        child_end.close()
        self._adopt(process, conn)

    @classmethod
    def adopt(cls, process: BaseProcess, conn: Connection) -> DiscoveryProcess:
        """Take over a child started elsewhere that runs :func:`serve` on ``conn``'s other end."""
        self = cls.__new__(cls)
        self._adopt(process, conn)
        return self

    def _adopt(self, process: BaseProcess, conn: Connection) -> None:
        self._process, self._conn = process, conn
        self._planned: frozenset[str] | None = None
        self._waiting: set[str] = set()
        self.delivered = 0  # discoveries received from the child

    def _recv(self) -> tuple:
        try:
            return self._conn.recv()
        except EOFError:
            left = "its plan" if self._planned is None else f"{len(self._waiting)} discovery(ies)"
            self.close()
            code = self._process.exitcode
            how = f"exit code {code}"
            if code is not None and code < 0:
                how = f"killed by {signal.Signals(-code).name}"
                if -code == signal.SIGKILL:
                    how += ", e.g. by the out-of-memory killer"
            raise DiscoveryProcessDied(
                f"the discovery process ended (pid {self._process.pid}, {how}) before sending "
                f"{left}; the runs finished so far are stored: run the same command again to "
                "continue (from Python, run_suite(..., background_discovery=False) discovers "
                "in the calling process)"
            ) from None

    def plan(self) -> frozenset[str]:
        """The keys of the discoveries the child runs (waits for a factory to build them)."""
        if self._planned is None:
            status, keys, payload = self._recv()
            if status == "error":
                self.close()
                raise payload
            self._planned = frozenset(keys)
            self._waiting = set(keys)
        return self._planned

    def pending(self) -> bool:
        self.plan()
        return bool(self._waiting)

    def results(self, timeout: float | None) -> list[tuple[str, Discovery]]:
        """Discoveries finished so far, waiting up to ``timeout`` s for the first one."""
        self.plan()
        out: list[tuple[str, Discovery]] = []
        while self._waiting and self._conn.poll(timeout if not out else 0):
            status, key, payload = self._recv()
            self._waiting.discard(key)
            if status == "error":
                self.close()
                raise payload
            out.append((key, Discovery.from_dict(payload)))
            self.delivered += 1
        if not self._waiting:
            self.close()
        return out

    def close(self) -> None:
        """Stop the child if it still runs (Ctrl-C, an error elsewhere) and reap it."""
        if self._process.is_alive():
            self._process.terminate()
        self._process.join(timeout=5)
        self._conn.close()
        self._waiting.clear()
        if self._planned is None:
            self._planned = frozenset()
