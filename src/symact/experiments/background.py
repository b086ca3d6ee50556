"""Discovery in a child process, so that training can start before the formulas are known.

Why: gplearn is single-threaded Python. Run first, it leaves a core idle for seconds while
nothing else can start; in a thread beside training it would fight the trainer for the GIL.
A forked child has its own interpreter, inherits the loaded data without copying or
pickling it, and returns each :class:`~symact.discovery.Discovery` as a dict through a pipe.
The parent stores them (it owns the results store) and releases the runs that use them.

Results are identical to discovering in the parent: the same function runs on the same
arrays with the same seed. Where ``fork`` does not exist (Windows, macOS defaults) or there
is a single core, :func:`can_run_in_background` is False and suites discover in line.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection

import numpy as np

from symact.discovery import Discovery, GplearnSettings, discover_gplearn


@dataclass(frozen=True)
class DiscoveryJob:
    """One dataset to discover on: its key in the store, data and display name."""

    key: str
    X: np.ndarray
    y: np.ndarray
    display_name: str
    settings: GplearnSettings


def can_run_in_background() -> bool:
    """Fork exists and there is a core to spare for the child."""
    return "fork" in multiprocessing.get_all_start_methods() and (os.cpu_count() or 1) >= 2


def _child(jobs: Sequence[DiscoveryJob], conn: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    for job in jobs:
        try:
            found = discover_gplearn(job.X, job.y, dataset=job.display_name, settings=job.settings)
            conn.send(("ok", job.key, found.to_dict()))
        except Exception as exc:  # sent to the parent, raised there
            conn.send(("error", job.key, exc))
            break
    conn.close()


class DiscoveryProcess:
    """Runs ``jobs`` one after another in a forked child; :meth:`results` collects them."""

    def __init__(self, jobs: Sequence[DiscoveryJob]) -> None:
        ctx = multiprocessing.get_context("fork")
        self._conn, child_end = ctx.Pipe(duplex=False)
        self._waiting = {job.key for job in jobs}
        self._process = ctx.Process(target=_child, args=(list(jobs), child_end), daemon=True)
        self._process.start()
        child_end.close()

    def pending(self) -> bool:
        return bool(self._waiting)

    def results(self, timeout: float | None) -> list[tuple[str, Discovery]]:
        """Discoveries finished so far, waiting up to ``timeout`` s for the first one."""
        out: list[tuple[str, Discovery]] = []
        while self._waiting and self._conn.poll(timeout if not out else 0):
            try:
                status, key, payload = self._conn.recv()
            except EOFError:
                self.close()
                raise RuntimeError(
                    f"the discovery process ended (exit code {self._process.exitcode}) before "
                    f"finishing {len(self._waiting)} discovery(ies); run again, or pass "
                    "background_discovery=False to discover in this process"
                ) from None
            self._waiting.discard(key)
            if status == "error":
                self.close()
                raise payload
            out.append((key, Discovery.from_dict(payload)))
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
