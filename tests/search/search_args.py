"""A small search on real data, shared by the search tests (imported by name: a module called
conftest would be whichever conftest pytest imported first under that name)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path

SMALL = [
    "--budget",
    "40",
    "--population",
    "16",
    "--tournament",
    "4",
    "--epochs",
    "2",
    "--final-seeds",
    "4",
    "--final-epochs",
    "3",
    "--rerank",
    "4",
    "--top",
    "2",
    "--population-size",
    "60",
    "--generations",
    "2",
    "--device",
    "cpu",
]


def stored_runs(db: Path) -> int:
    """How many runs the store at ``db`` holds (0 before it exists or while it is created)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def interrupt_when_stored(cmd: list[str], db: Path, at_least: int, env: dict[str, str]) -> str:
    """Run ``cmd``, send it a real SIGINT once its store holds ``at_least`` runs, and return
    what it printed; the search must still be running then, and stop with status 130."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and stored_runs(db) < at_least:
        time.sleep(0.05)
    assert proc.poll() is None, "the search finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    return output
