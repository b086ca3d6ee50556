"""The results store: one SQLite file per output folder, one committed row per finished run.

Each run and each discovery is written in its own transaction the moment it finishes, so an
interrupted grid keeps everything it completed and a rerun asks the store what is missing.

Opening a store finds every problem before any work is done: the folder must be writable
(or creatable), an existing file a readable, intact symact store (``PRAGMA quick_check``),
and writable (a write transaction at open); another process must not hold it (see
``lock``). Each problem is one :class:`StoreError` (a ValueError) naming the path and what
to do; a failed open leaves no file or folder behind that was not there before.
:func:`check_results_folder` runs the same checks without creating anything, for a caller
that validates ``--out`` before it starts.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from symact.errors import UserError
from symact.experiments.lock import ResultsInUse, ResultsLock, in_use_message, lock_holder
from symact.identity import PROTOCOL_VERSION

#: The store's file name inside a results folder (``--out``).
STORE_NAME = "symact.sqlite"
#: Stored in the file header (``PRAGMA user_version``); written at every open, which also
#: proves the store writable before any run trains.
SCHEMA_VERSION = 1
COLUMNS = ("key", "spec", "result", "finished_at")
#: runs and discoveries by spec key; documents by name: what an output folder shows beyond
#: the runs (a suite's table rows and formulas, a search's candidates), so that
#: ``symact report DIR`` rebuilds every output from the store alone
TABLES = ("runs", "discoveries", "documents")
SCHEMA = tuple(
    f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, spec TEXT NOT NULL, "
    "result TEXT NOT NULL, finished_at TEXT NOT NULL)"
    for table in TABLES
)
_WHAT_TO_DO = "choose another --out folder"


class StoreError(UserError, ValueError):
    """A results store cannot be opened, read or written; the message says what to do."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- checks


def check_results_folder(
    folder: str | Path, name: str = STORE_NAME, *, held_ok: bool = False
) -> None:
    """Raise :class:`StoreError` if a results store cannot be created or written in
    ``folder`` (``--out``), or :class:`~symact.experiments.lock.ResultsInUse` if another
    run holds it (unless ``held_ok``: the caller will wait). Creates nothing: the folder
    may not exist yet."""
    check_store_path(Path(folder) / name, held_ok=held_ok)


def check_store_path(path: str | Path, *, held_ok: bool = False, protocol: bool = True) -> None:
    """:func:`check_results_folder` for the store file ``path`` itself.

    ``held_ok`` skips the lock check (for an opener that will wait for the lock);
    ``protocol`` False accepts a store of another protocol (to read it, not to resume it).
    """
    path = Path(path)
    _check_folder(path.parent, path)
    if not (path.exists() or path.is_symlink()):
        return
    _check_existing_store(path, protocol)
    holder = None if held_ok else lock_holder(path)
    if holder is not None:
        raise ResultsInUse(in_use_message(path, holder))


def _check_folder(folder: Path, store: Path) -> None:
    base = folder
    while not base.exists():  # the nearest folder that exists: it must let us create the rest
        if base.parent == base:
            break
        base = base.parent
    if not base.is_dir():
        raise StoreError(
            f"cannot create the results store {store}: {base} is a file, not a folder; "
            f"{_WHAT_TO_DO}"
        )
    if not os.access(base, os.W_OK | os.X_OK):
        made = "write the results store" if base == folder else "create the results folder"
        raise StoreError(
            f"cannot {made} {store if base == folder else folder}: {base} is not writable; "
            f"make it writable, or {_WHAT_TO_DO}"
        )


def _check_existing_store(path: Path, protocol: bool = True) -> None:
    if not path.is_file():
        raise StoreError(f"{path} is not a file, so not a symact results store; {_WHAT_TO_DO}")
    if not os.access(path, os.R_OK):
        raise StoreError(f"cannot read the results store {path}: permission denied; {_WHAT_TO_DO}")
    if not os.access(path, os.W_OK):
        raise StoreError(
            f"cannot write the results store {path}: the file is read-only; make it writable "
            f"(chmod u+w), or {_WHAT_TO_DO}"
        )
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise _store_error(path, exc) from None
    try:
        _check_contents(conn, path, protocol)
    except sqlite3.Error as exc:
        raise _store_error(path, exc) from None
    finally:
        conn.close()


def _check_contents(conn: sqlite3.Connection, path: Path, protocol: bool = True) -> None:
    """An intact file whose tables, where present, are symact's, and (``protocol``) whose
    runs and discoveries this version's keys can find."""
    (verdict,) = conn.execute("PRAGMA quick_check(1)").fetchone()
    if verdict != "ok":
        raise StoreError(_damaged(path, verdict))
    for table in TABLES:
        columns = tuple(row[1] for row in conn.execute(f"PRAGMA table_info({table})"))
        if columns and columns != COLUMNS:
            raise StoreError(
                f"{path} is not a symact results store (its table {table} has columns "
                f"{', '.join(columns)}); move it away or {_WHAT_TO_DO}"
            )
    if protocol:
        _check_protocol(conn, path)


def stored_protocols(conn: sqlite3.Connection) -> set[int | None]:
    """The protocol versions of the stored runs' and discoveries' specs (None: a discovery
    stored before version 3, whose spec did not say; every run's spec says)."""
    found: set[int | None] = set()
    for table in ("runs", "discoveries"):
        if conn.execute(f"PRAGMA table_info({table})").fetchone() is None:
            continue
        query = f"SELECT DISTINCT json_extract(spec, '$.protocol') FROM {table}"
        found |= {v for (v,) in conn.execute(query) if v is not None or table == "discoveries"}
    return found


def _check_protocol(conn: sqlite3.Connection, path: Path) -> None:
    """A store of another protocol holds runs under keys this version never computes (a
    rerun would train everything again beside them): say so, before any work."""
    others = stored_protocols(conn) - {PROTOCOL_VERSION}
    if not others:
        return
    version = "an older" if all(v is None or v < PROTOCOL_VERSION for v in others) else "another"
    folder = path.parent
    raise StoreError(
        f"{folder} holds results of {version} symact (run protocol "
        f"{', '.join(sorted(str(v or '< 3') for v in others))}; this symact writes "
        f"{PROTOCOL_VERSION}), which it cannot resume: choose a new --out, or move {folder} "
        "away and run the same command again to start it anew"
    )


def _damaged(path: Path, detail: str) -> str:
    detail = " ".join(detail.replace("*** in database main ***", "").split())[:160]
    return (
        f"the results store {path} is damaged ({detail}); move it away (its stored runs "
        f"would be trained again) or {_WHAT_TO_DO}"
    )


def _store_error(path: Path, exc: sqlite3.Error) -> StoreError:
    """One line for what SQLite said about ``path``."""
    code = getattr(exc, "sqlite_errorname", "")
    if code.startswith("SQLITE_READONLY"):
        where = "its folder" if code == "SQLITE_READONLY_DIRECTORY" else "the file"
        return StoreError(
            f"cannot write the results store {path}: {where} is read-only ({exc}); make it "
            f"writable, or {_WHAT_TO_DO}"
        )
    if code == "SQLITE_NOTADB":
        return StoreError(
            f"{path} is not a symact results store ({exc}); move it away or {_WHAT_TO_DO}"
        )
    if code == "SQLITE_CORRUPT" or "malformed" in str(exc):
        return StoreError(_damaged(path, str(exc)))
    if code == "SQLITE_BUSY":
        return StoreError(
            f"the results store {path} is busy: another program is writing it ({exc}); wait "
            f"for it, or {_WHAT_TO_DO}"
        )
    return StoreError(f"cannot open the results store {path} ({exc}); {_WHAT_TO_DO}")


# --------------------------------------------------------------------------- the store


class ResultsStore:
    """Finished runs and discoveries keyed by their spec's content hash.

    Holds the store's lock from open to :meth:`close`: a second process opening the same
    store gets :class:`~symact.experiments.lock.ResultsInUse` at once, or with ``wait``
    (True, or a number of seconds) waits for the first to finish. Every other problem with
    the file or its folder is a :class:`StoreError` raised here, before any work, as is a
    store written by another run protocol (its keys are not this version's), unless
    ``protocol`` is False: a reader (``symact report``) may open it.
    """

    def __init__(
        self, path: str | Path, *, wait: bool | float = False, protocol: bool = True
    ) -> None:
        self.path = Path(path)
        # the lock is taken (or waited for) below
        check_store_path(self.path, held_ok=True, protocol=protocol)
        existed = self.path.exists()
        created = _make_folders(self.path.parent)
        self._lock: ResultsLock | None = None
        try:
            self._lock = _acquire(self.path, wait)
            self._conn = _open_verified(self.path, protocol)
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            _remove_created(self.path, existed, created)
            raise

    def close(self) -> None:
        """Close the file and release the lock (a second close does nothing)."""
        if self._lock is None:
            return
        self._conn.close()
        self._lock.release()
        self._lock = None

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _put(self, table: str, key: str, spec: dict[str, Any], result: dict[str, Any]) -> None:
        with self._conn:  # one transaction: committed on exit
            self._conn.execute(
                f"INSERT OR REPLACE INTO {table} (key, spec, result, finished_at) "
                "VALUES (?, ?, ?, ?)",
                (key, json.dumps(spec, sort_keys=True), json.dumps(result), _now()),
            )

    def _get(self, table: str, key: str) -> dict[str, Any] | None:
        row = self._conn.execute(f"SELECT result FROM {table} WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put_run(self, key: str, spec: dict[str, Any], result: dict[str, Any]) -> None:
        self._put("runs", key, spec, result)

    def get_run(self, key: str) -> dict[str, Any] | None:
        return self._get("runs", key)

    def put_discovery(self, key: str, spec: dict[str, Any], result: dict[str, Any]) -> None:
        self._put("discoveries", key, spec, result)

    def get_discovery(self, key: str) -> dict[str, Any] | None:
        return self._get("discoveries", key)

    def put_document(self, name: str, document: dict[str, Any]) -> None:
        """Store (or replace) a named JSON document, in one transaction."""
        self._put("documents", name, {}, document)

    def get_document(self, name: str) -> dict[str, Any] | None:
        return self._get("documents", name)

    def pin_document(
        self, name: str, document: dict[str, Any], before: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Settings a resumed job must share with the one that started the store: the first
        call stores ``document``; a later one returns the stored document where it differs
        (None where it agrees), so the caller can name both. ``before`` stands for a store
        written before the document existed."""
        stored = self.get_document(name) or before
        if stored is None:
            self.put_document(name, document)
            return None
        return None if stored == document else stored

    def stored_runs(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored results among ``keys``, in one query per 500 keys."""
        keys = list(dict.fromkeys(keys))
        out: dict[str, dict[str, Any]] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, result FROM runs WHERE key IN ({marks})"
            out.update((k, json.loads(r)) for k, r in self._conn.execute(query, chunk))
        return out

    def missing_runs(self, keys: Iterable[str], *, retry_failed: bool = False) -> list[str]:
        """The keys among ``keys`` to train, in the given order: those with no stored
        result, those stored as failed for a transient reason (``failure_kind``, see
        ``executors.failure_kind``), and with ``retry_failed`` every failed one."""
        query = (
            "SELECT key FROM runs WHERE NOT coalesce(json_extract(result, '$.failed'), 0) "
            "OR (json_extract(result, '$.failure_kind') IS NOT 'transient' AND NOT ?)"
        )
        have = {k for (k,) in self._conn.execute(query, (retry_failed,))}
        return [k for k in keys if k not in have]

    def count(self, table: str = "runs") -> int:
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        return self._conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def finished_at(self, key: str) -> str | None:
        row = self._conn.execute("SELECT finished_at FROM runs WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]


def _make_folders(folder: Path) -> list[Path]:
    """Create ``folder`` and missing parents; return the ones created, outermost first."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    created: list[Path] = []
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            if path.is_dir():  # another process made it meanwhile: not ours to remove
                continue
            reason = "a file of that name is in the way"
        except OSError as exc:
            reason = exc.strerror or str(exc)
        else:
            created.append(path)
            continue
        _remove_created(None, True, created)
        raise StoreError(f"cannot create the results folder {path}: {reason}; {_WHAT_TO_DO}")
    return created


def _remove_created(store: Path | None, existed: bool, created: list[Path]) -> None:
    """Undo a failed open: the store file if it is new, and the folders made for it."""
    if store is not None and not existed:
        for leftover in (store, store.with_name(store.name + "-journal")):
            with contextlib.suppress(OSError):
                leftover.unlink()
    for folder in reversed(created):
        with contextlib.suppress(OSError):
            folder.rmdir()


def _acquire(path: Path, wait: bool | float) -> ResultsLock:
    try:
        return ResultsLock.acquire(path, wait=wait)
    except OSError as exc:  # ResultsInUse is a ValueError and passes through
        raise StoreError(
            f"cannot lock the results store {path} ({exc.strerror}: {exc.filename}); {_WHAT_TO_DO}"
        ) from None


def _open_verified(path: Path, protocol: bool = True) -> sqlite3.Connection:
    """Connect, then prove the store intact and writable in one write transaction."""
    try:
        conn = sqlite3.connect(path)
    except sqlite3.Error as exc:
        raise _store_error(path, exc) from None
    try:
        conn.execute("BEGIN IMMEDIATE")  # takes the write lock: fails if it cannot write
        _check_contents(conn, path, protocol)
        for statement in SCHEMA:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")  # a real write, journal too
        conn.commit()
    except sqlite3.Error as exc:
        conn.close()
        raise _store_error(path, exc) from None
    except BaseException:
        conn.close()
        raise
    return conn


def stored_keys(path: str | Path, table: str = "discoveries") -> set[str]:
    """The keys in ``table`` of the store at ``path``, read without creating or locking it.

    For a process that only needs to know what is done (the benchmark's early discovery
    child) while another owns the store; a missing or unreadable file holds nothing.
    """
    if table not in ("runs", "discoveries"):
        raise ValueError(f"unknown table {table!r}")
    path = Path(path)
    if not path.is_file():
        return set()
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return {k for (k,) in conn.execute(f"SELECT key FROM {table}")}
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return set()
