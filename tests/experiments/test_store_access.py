"""Opening the results store finds every problem before any work; one run per store at a time.

Everything here is real: SQLite files, file permissions enforced by the kernel, separate
processes. Permissions do not bind root, so when the suite runs as root the scenarios that
need them run in a child process that drops to an unprivileged user (uid 65534, "nobody")
after its imports, in a folder that user may enter.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from symact.experiments import ResultsStore
from symact.experiments.lock import ResultsInUse, lock_path
from symact.experiments.store import StoreError, check_results_folder

UNPRIVILEGED = 65534

# Runs one store operation and prints what happened as JSON; drops root first (after the
# imports: the interpreter's own files may be unreadable to the unprivileged user).
CHILD = textwrap.dedent(
    """
    import json, os, sys
    from symact.experiments.store import ResultsStore, check_results_folder
    action, target = sys.argv[1], sys.argv[2]
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid({uid})
        os.setuid({uid})
    try:
        if action == "check":
            check_results_folder(target)
        else:
            with ResultsStore(target) as store:
                store.put_run("k", {{}}, {{"accuracy": 0.5}})
        print(json.dumps({{"error": None}}))
    except Exception as exc:
        print(json.dumps({{"error": type(exc).__name__, "message": str(exc),
                           "is_value_error": isinstance(exc, ValueError)}}))
    """
).format(uid=UNPRIVILEGED)


def _as_user(action: str, target: Path) -> dict:
    """``action`` ("check" a folder or "open" a store) in a process without root's rights."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD, action, str(target)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temporary folder the unprivileged child may enter (pytest's tmp_path is 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="symact-store-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in [folder, *folder.rglob("*")]:  # make everything removable again
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(folder)


def _store_with_runs(path: Path, n: int = 1) -> None:
    with ResultsStore(path) as store:
        for i in range(n):
            store.put_run(f"run{i}", {"i": i}, {"accuracy": 0.5, "loss_history": [0.1] * 100})


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# --------------------------------------------------------------------------- permissions


def test_a_read_only_store_is_refused_at_open_not_after_a_run(shared_tmp):
    out = shared_tmp / "out"
    _store_with_runs(out / "symact.sqlite")
    (out / "symact.sqlite").chmod(0o444)
    out.chmod(0o777)  # the folder is writable: only the file is read-only
    before = _listing(shared_tmp)
    for action, target in (("open", out / "symact.sqlite"), ("check", out)):
        result = _as_user(action, target)
        assert result["error"] == "StoreError" and result["is_value_error"], result
        assert result["message"].startswith(
            f"cannot write the results store {out / 'symact.sqlite'}: the file is read-only"
        )
        assert "choose another --out folder" in result["message"]
        assert "\n" not in result["message"]
    assert _listing(shared_tmp) == before  # no lock file, no journal left behind


def test_a_read_only_folder_with_a_writable_store_is_refused_at_open(shared_tmp):
    out = shared_tmp / "out"
    _store_with_runs(out / "symact.sqlite")
    (out / "symact.sqlite").chmod(0o666)
    out.chmod(0o555)  # SQLite could not write its journal, nor we the lock file
    for action, target in (("open", out / "symact.sqlite"), ("check", out)):
        result = _as_user(action, target)
        assert result["error"] == "StoreError", result
        assert f"cannot write the results store {out / 'symact.sqlite'}" in result["message"]
        assert f"{out} is not writable" in result["message"]


def test_a_read_only_new_out_folder_says_so_and_creates_nothing(shared_tmp):
    empty = shared_tmp / "empty-out"
    empty.mkdir()
    empty.chmod(0o555)
    parent = shared_tmp / "parent"
    parent.mkdir()
    parent.chmod(0o555)
    cases = [
        (empty / "symact.sqlite", empty, f"{empty} is not writable"),
        (parent / "new" / "deeper" / "symact.sqlite", parent / "new" / "deeper", f"{parent} is"),
    ]
    for store, folder, reason in cases:
        for action, target in (("open", store), ("check", folder)):
            result = _as_user(action, target)
            assert result["error"] == "StoreError", result
            assert "not a symact results store" not in result["message"]
            assert reason in result["message"] and "--out" in result["message"]
    assert _listing(empty) == [] and _listing(parent) == []


# --------------------------------------------------------------------------- damage


def test_damage_past_the_header_is_found_at_open(tmp_path):
    path = tmp_path / "symact.sqlite"
    _store_with_runs(path, n=300)  # ~60 pages
    raw = bytearray(path.read_bytes())
    assert len(raw) > 20 * 4096
    raw[8 * 4096 : 12 * 4096] = os.urandom(4 * 4096)
    path.write_bytes(bytes(raw))
    digest = hashlib.sha256(raw).hexdigest()
    with pytest.raises(StoreError) as err:
        ResultsStore(path)
    assert str(err.value).startswith(f"the results store {path} is damaged")
    assert "move it away" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(StoreError, match="is damaged"):
        check_results_folder(tmp_path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest  # the file is untouched
    assert _listing(tmp_path) == ["symact.sqlite"]


def test_a_sqlite_file_of_another_program_is_not_a_store(tmp_path):
    path = tmp_path / "symact.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE runs (id INTEGER, name TEXT)")
    with pytest.raises(StoreError, match=r"not a symact results store \(its table runs has"):
        ResultsStore(path)


def test_checking_a_folder_creates_nothing(tmp_path):
    out = tmp_path / "a" / "b"
    check_results_folder(out)
    assert not (tmp_path / "a").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match=r"is a file, not a folder"):
        check_results_folder(tmp_path / "file" / "out")
    with ResultsStore(out / "symact.sqlite") as store:
        store.put_run("k", {}, {"accuracy": 1.0})
    check_results_folder(out)  # an existing, healthy store is fine
    assert _listing(out) == ["symact.sqlite"]  # the lock file goes with the store's close


def test_a_failed_open_removes_the_folders_it_made(tmp_path):
    (tmp_path / "taken").write_text("not a folder")
    with pytest.raises(StoreError, match="is a file, not a folder"):
        ResultsStore(tmp_path / "taken" / "out" / "symact.sqlite")
    assert _listing(tmp_path) == ["taken"]


# --------------------------------------------------------------------------- one run at a time

HOLDER = textwrap.dedent(
    """
    import sys
    from symact.experiments import ResultsStore
    with ResultsStore(sys.argv[1]) as store:
        store.put_run("held", {}, {"accuracy": 0.5})
        print("holding", flush=True)
        sys.stdin.read()  # until the test closes our stdin
    """
)


def test_a_second_process_is_refused_with_the_holders_pid_or_waits(tmp_path):
    path = tmp_path / "out" / "symact.sqlite"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(ResultsInUse) as err:
            ResultsStore(path)
        msg = str(err.value)
        assert f"pid {holder.pid} since" in msg and str(path) in msg
        assert "wait for it to finish, or choose another --out folder" in msg
        with pytest.raises(ResultsInUse, match=f"pid {holder.pid}"):
            check_results_folder(path.parent)
        start = time.perf_counter()
        with pytest.raises(ResultsInUse):
            ResultsStore(path, wait=0.5)
        assert time.perf_counter() - start >= 0.5
    finally:
        holder.stdin.close()  # the holder closes its store and exits
    with ResultsStore(path, wait=30) as store:
        assert store.get_run("held") == {"accuracy": 0.5}
    assert holder.wait(timeout=30) == 0
    assert not lock_path(path).exists()


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path):
    path = tmp_path / "symact.sqlite"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "holding"
    holder.kill()
    holder.wait(timeout=30)
    assert lock_path(path).exists()  # no chance to clean up; the kernel dropped the lock
    with ResultsStore(path) as store:
        assert store.count() == 1


GRID = textwrap.dedent(
    """
    import sys
    from symact.experiments import DataCache, DataSpec, ResultsStore, RunSpec, run_grid
    from symact.models import LIGHT
    from symact.training import TrainConfig
    data = DataCache()
    cancer = data.identify(DataSpec("breast_cancer"))
    specs = [RunSpec(cancer, LIGHT.with_activation(a), 1, TrainConfig(epochs=1))
             for a in ("relu", "gelu", "silu")]
    print("ready", flush=True)
    sys.stdin.readline()  # start together
    with ResultsStore(sys.argv[1], wait=True) as store:
        print(run_grid(specs, store, data, device="cpu").trained, flush=True)
    """
)


@pytest.mark.slow
def test_two_processes_on_one_store_never_train_a_run_twice(tmp_path):
    path = tmp_path / "out" / "symact.sqlite"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", GRID, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready"
    for proc in procs:  # both reach ResultsStore(...) at about the same moment
        proc.stdin.write("go\n")
        proc.stdin.flush()
    trained = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        trained.append(int(out.split()[-1]))
    assert sorted(trained) == [0, 3]  # one trained all three, the other found them stored
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 3
