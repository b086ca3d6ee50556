"""``symact benchmark`` and its results store: every store problem is one line before any run
trains, and two commands on one ``--out`` never train a run twice (issue #10).

Permissions do not bind root, so the read-only cases run the command in a child process that
drops to an unprivileged user (uid 65534) after its first import, as
tests/experiments/test_store_access.py does.
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
from cli_helpers import FAST, listing

from symact.experiments.lock import lock_holder

UNPRIVILEGED = 65534
BREAST = ["benchmark", "--datasets", "breast_cancer", *FAST]

# The command as an unprivileged user: status, what it printed, whether torch was imported.
# Root's Python may be unreadable to that user, so the command runs once as root first, with
# an --out that is refused before any work (/dev/null): its checks import what they need.
AS_USER = textwrap.dedent(
    """
    import contextlib, io, json, os, sys
    from symact.cli import main
    argv = json.loads(sys.argv[1])
    with contextlib.redirect_stderr(io.StringIO()):
        assert main([*argv, "--out", os.devnull]) == 2
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid({uid})
        os.setuid({uid})
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(argv)
    print(json.dumps({{"status": status, "err": err.getvalue(), "torch": "torch" in sys.modules}}))
    """
).format(uid=UNPRIVILEGED)


def _as_user(argv: list[str], cwd: Path) -> dict:
    run = subprocess.run(
        [sys.executable, "-c", AS_USER, json.dumps(argv)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temporary folder the unprivileged child may enter (pytest's tmp_path is 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="symact-cli-store-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in [folder, *folder.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(folder)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _runs(store: Path) -> dict[str, str]:
    with sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True) as conn:
        return dict(conn.execute("SELECT key, finished_at FROM runs").fetchall())


def test_out_that_is_a_file_is_one_line_and_the_file_is_untouched(symact, tmp_path):
    taken = tmp_path / "results"
    taken.write_text("my notes\n")
    r = symact(*BREAST, "--out", str(taken))
    assert r.status == 2
    assert r.error == f"error: --out {taken} is a file; name a folder (it is created if missing)"
    assert taken.read_text() == "my notes\n" and listing(tmp_path) == ["results"]


@pytest.mark.parametrize(
    ("file_mode", "folder_mode", "expected"),
    [
        (0o444, 0o777, "the file is read-only; make it writable (chmod u+w)"),
        (0o666, 0o555, "is not writable"),
    ],
    ids=["read-only file", "read-only folder"],
)
def test_a_read_only_store_fails_before_any_run_trains(
    symact, shared_tmp, file_mode, folder_mode, expected
):
    out = shared_tmp / "out"
    assert symact(*BREAST, "--activations", "relu", "--out", str(out)).status == 0
    store = out / "symact.sqlite"
    kept, digest = _runs(store), _digest(store)
    store.chmod(file_mode)
    out.chmod(folder_mode)
    before = listing(shared_tmp)
    # gelu is not stored yet: the command would train it, if it got that far
    r = _as_user([*BREAST, "--activations", "relu,gelu", "--out", str(out)], shared_tmp)
    assert r["status"] == 2, r
    lines = r["err"].strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r["err"]
    assert f"results store {store}" in lines[0] and expected in lines[0]
    assert lines[0].endswith("choose another --out folder")
    assert not r["torch"], "the store was checked only after the heavy imports"
    assert _digest(store) == digest and _runs(store) == kept
    assert listing(shared_tmp) == before  # no lock file, journal or output


def test_a_damaged_store_is_one_line_and_stays_as_it_was(symact, tmp_path):
    out = tmp_path / "out"
    assert symact(*BREAST, "--out", str(out)).status == 0
    store = out / "symact.sqlite"
    raw = bytearray(store.read_bytes())
    pages = len(raw) // 4096
    assert pages >= 4
    raw[4096 : (pages - 1) * 4096] = os.urandom((pages - 2) * 4096)  # past the header page
    store.write_bytes(bytes(raw))
    digest, before = _digest(store), listing(tmp_path)
    for argv in ([*BREAST, "--out", str(out)], ["report", str(out)]):
        r = symact(*argv)
        assert r.status == 2
        assert r.error.startswith(f"error: the results store {store} is damaged (")
        assert r.error.endswith(
            "move it away (its stored runs would be trained again) or choose another --out folder"
        )
    assert _digest(store) == digest and listing(tmp_path) == before


def _spambase_command(data_dir: Path, out: Path, epochs: int, seeds: str) -> list[str]:
    return [
        "benchmark",
        "--datasets",
        "spambase",
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
        "--discovery",
        "none",
        "--activations",
        "relu",
        "--epochs",
        str(epochs),
        "--seeds",
        seeds,
        "--device",
        "cpu",
    ]


def _wait_for_lock(store: Path, proc: subprocess.Popen, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        holder = lock_holder(store)
        if holder is not None:
            return holder
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("the first run never took the store's lock")


@pytest.mark.slow
def test_a_second_run_on_a_held_store_names_the_holder_and_trains_nothing(
    symact, tmp_path, canonical_data_dir
):
    out = tmp_path / "out"
    store = out / "symact.sqlite"
    argv = _spambase_command(canonical_data_dir, out, epochs=30, seeds="42,43")
    first = subprocess.Popen(
        [sys.executable, "-m", "symact", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert _wait_for_lock(store, first).startswith(f"pid {first.pid} since")
        r = symact(*argv)
        assert r.status == 2
        assert r.error.startswith(
            f"error: the results store {store} is in use by another symact run (pid {first.pid} "
        )
        assert "wait for it to finish, or choose another --out folder" in r.error
    finally:
        output, _ = first.communicate(timeout=120)
    assert first.returncode == 0, output
    assert "4 runs: 4 trained, 0 already stored" in output
    stored = _runs(store)
    r = symact(*argv)  # once the first is done, the same command only rewrites the outputs
    assert r.status == 0, r.err
    assert "4 runs: 0 trained, 4 already stored" in r.out
    assert _runs(store) == stored


@pytest.mark.slow
def test_two_runs_started_together_train_each_run_once(tmp_path, canonical_data_dir):
    out = tmp_path / "out"
    argv = _spambase_command(canonical_data_dir, out, epochs=5, seeds="42,43")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "symact", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p, *p.communicate(timeout=180)) for p in procs]
    trained = 0
    for proc, stdout, stderr in results:
        assert "Traceback" not in stdout + stderr
        if proc.returncode == 0:
            trained += int(stdout.split(" trained,")[0].rsplit(" ", 1)[-1])
        else:  # refused: the other one holds the store
            assert proc.returncode == 2, stdout + stderr
            (line,) = stderr.strip().splitlines()
            other = next(p for p in procs if p is not proc)
            in_use = f"is in use by another symact run (pid {other.pid} " in line
            # (or, should it read the file while the other commits: "busy", after 5 s)
            assert in_use or "is busy: another program is writing it" in line, line
    assert trained == 4  # Heavy ReLU and Light ReLU, two seeds: each trained once
    assert len(_runs(out / "symact.sqlite")) == 4


def test_an_out_folder_with_other_files_and_no_store_is_refused(tmp_path, capsys):
    from symact.cli import main

    out = tmp_path / "papers"
    out.mkdir()
    (out / "report.html").write_text("someone else's report")
    argv = ["benchmark", "--suite", "builtin", "--out", str(out), "--discovery", "none"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "holds other files (report.html)" in err
    assert (out / "report.html").read_text() == "someone else's report"
    assert not (out / "symact.sqlite").exists()


def test_a_killed_runs_staging_folder_is_cleared_by_the_next(tmp_path):
    from symact.cli import main

    out = tmp_path / "out"
    argv = [
        "benchmark",
        "--suite",
        "builtin",
        "--datasets",
        "breast_cancer",
        "--out",
        str(out),
        "--discovery",
        "none",
        "--epochs",
        "1",
        "--seeds",
        "1",
    ]
    assert main(argv) == 0
    stale = out / ".symact-outputs-killed"
    stale.mkdir()
    (stale / "report.html").write_text("half")
    assert main(argv) == 0
    assert not stale.exists() and not list(out.glob(".symact-outputs-*"))
