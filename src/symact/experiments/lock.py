"""One run at a time per results store: an exclusive lock file beside the SQLite file.

Two processes writing runs into one ``--out`` folder would each find the same runs missing
and train them twice. So the store takes ``fcntl.flock`` on ``<store>.lock`` while it is
open: a second process is refused at once with the holder's pid, or waits when asked. The
kernel drops the lock when its holder dies, so a crash leaves no stale lock. The holder
writes its pid into the file and deletes it on release, while still holding it; whoever
acquires a lock checks that the file it locked is still the one at the path (a waiter may
have opened a file deleted since), so a deleted lock file is never shared.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from symact.errors import UserError

_POLL_S = 0.1


class ResultsInUse(UserError, ValueError):
    """Another process holds the results store; the message names its pid and what to do."""


def lock_path(store: str | Path) -> Path:
    """The lock file of the store at ``store``: ``symact.sqlite`` -> ``symact.sqlite.lock``,
    beside the real file: symbolic links (a linked ``--out``, a linked ``symact.sqlite``)
    are resolved first, so two folders linking one store share its one lock."""
    store = Path(os.path.realpath(store))
    return store.with_name(store.name + ".lock")


def lock_holder(store: str | Path) -> str | None:
    """Who holds the store's lock (``"pid 123 since ..."``), or None; creates nothing."""
    path = lock_path(store)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder_text(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _holder_text(fd: int) -> str:
    with contextlib.suppress(OSError):
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
        if text:
            return text
    return "another process"


def in_use_message(store: Path, holder: str) -> str:
    return (
        f"the results store {store} is in use by another symact run ({holder}); wait for it "
        "to finish, or choose another --out folder"
    )


class ResultsLock:
    """The exclusive lock on one results store, held from :meth:`acquire` to :meth:`release`."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, store: str | Path, *, wait: bool | float = False) -> ResultsLock:
        """Lock the store at ``store``: at once (``wait=False``), for up to ``wait`` seconds,
        or as long as it takes (``wait=True``); :class:`ResultsInUse` when it stays held."""
        path = lock_path(store)
        deadline = None if wait is True else time.monotonic() + float(wait or 0)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder_text(fd)
                os.close(fd)
                if deadline is not None and time.monotonic() >= deadline:
                    raise ResultsInUse(in_use_message(Path(store), holder)) from None
                time.sleep(_POLL_S)
                continue
            if _still_at(path, fd):
                _write_holder(fd)
                return cls(path, fd)
            os.close(fd)  # the file was deleted after we opened it: lock the new one

    def release(self) -> None:
        """Delete the lock file and unlock (in that order; see the module docstring)."""
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> ResultsLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _still_at(path: Path, fd: int) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)


def _write_holder(fd: int) -> None:
    since = datetime.now(timezone.utc).isoformat(timespec="seconds")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} since {since}\n".encode(), 0)
