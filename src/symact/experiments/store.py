"""The results store: one SQLite file per output folder, one committed row per finished run.

Each run and each discovery is written in its own transaction the moment it finishes, so an
interrupted grid keeps everything it completed and a rerun asks the store what is missing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    result TEXT NOT NULL,
    finished_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS discoveries (
    key TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    result TEXT NOT NULL,
    finished_at TEXT NOT NULL
);
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ResultsStore:
    """Finished runs and discoveries keyed by their spec's content hash."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path)
            self._conn.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ValueError(
                f"{self.path} is not a symact results store ({exc}); move it away or choose "
                "another --out folder"
            ) from exc

    def close(self) -> None:
        self._conn.close()

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

    def missing_runs(self, keys: Iterable[str]) -> list[str]:
        """The keys among ``keys`` with no stored result, in the given order."""
        have = {k for (k,) in self._conn.execute("SELECT key FROM runs")}
        return [k for k in keys if k not in have]

    def count(self, table: str = "runs") -> int:
        if table not in ("runs", "discoveries"):
            raise ValueError(f"unknown table {table!r}")
        return self._conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def finished_at(self, key: str) -> str | None:
        row = self._conn.execute("SELECT finished_at FROM runs WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]


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
