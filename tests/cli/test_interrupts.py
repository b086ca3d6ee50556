"""Stopping ``symact benchmark``: nothing finished is lost, nothing is left running, no output
is left half written (issue #10).

SIGTERM and SIGKILL go to a real ``python -m symact benchmark`` on the spambase slice,
killed mid-training; the interrupt during output writing is a real SIGINT, sent to this
process at a chosen moment of the write.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import FAST, csv_rows, listing

import symact.report.outputs as outputs

EVERY_OUTPUT = {
    "final_efficiency_results.csv",
    "summary.csv",
    "paired_vs_heavy.csv",
    "accuracy_vs_params.png",
    "statistics.csv",
    "suite_statistics.csv",
    "pareto.png",
    "runs.csv",
    "claims.csv",
    "statistics_settings.json",
    "transfer_matrix.csv",
    "report.html",
    "results.json",
}


def _stored_runs(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet, or being created
        return 0


def _start(argv: list[str]) -> subprocess.Popen:
    """``python -m symact`` in its own process group (so that its children can be found)."""
    return subprocess.Popen(
        [sys.executable, "-m", "symact", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        start_new_session=True,
    )


def _wait_until(condition, proc: subprocess.Popen, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the command ended before {what}:\n{proc.communicate()[0]}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.02)


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):  # the task ended meanwhile
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _state(pid: int) -> str | None:
    """A process's state letter (``R``, ``S``, ``Z`` ...), or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _live_group(pgid: int) -> list[int]:
    """Processes of the process group ``pgid`` that still run (zombies are dead)."""
    live = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(int(entry.name))
    return live


def _spambase(data_dir: Path, out: Path, *extra: str) -> list[str]:
    return [
        "benchmark", "--datasets", "spambase", "--data-dir", str(data_dir), "--out", str(out),
        "--device", "cpu", "--seeds", "42,43", *extra,
    ]  # fmt: skip


@pytest.mark.slow
def test_sigterm_keeps_the_finished_runs_says_so_and_exits_130(tmp_path, canonical_data_dir):
    out = tmp_path / "out"
    store = out / "symact.sqlite"
    argv = _spambase(
        canonical_data_dir, out, "--epochs", "40", "--population-size", "60", "--generations", "2"
    )
    proc = _start(argv)
    try:
        _wait_until(lambda: _stored_runs(store) > 0, proc, 60, "finished run")
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, output
    assert "Traceback" not in output
    kept = _stored_runs(store)
    assert 0 < kept < 10  # Heavy, Light ReLU/GELU/SiLU and the Specialist, two seeds
    lines = [line for line in output.splitlines() if line.startswith("Terminated.")]
    assert lines == [
        f"Terminated. {kept} run(s) finished in this session are kept in {store} ({kept} "
        "stored in all). Run the same command again to continue where it stopped."
    ], output
    time.sleep(0.5)
    assert _live_group(proc.pid) == []  # the discovery child is stopped too


def _start_training_beside_discovery(data_dir: Path, out: Path) -> tuple[subprocess.Popen, list]:
    """A benchmark whose discovery outlasts the baseline runs: returned once a baseline run
    is stored, with the discovery child (or children) still running."""
    argv = _spambase(
        data_dir, out, "--epochs", "10", "--population-size", "4000", "--generations", "20",
        "--subsample", "1.0",
    )  # fmt: skip
    proc = _start(argv)
    try:
        _wait_until(lambda: _stored_runs(out / "symact.sqlite") > 0, proc, 60, "finished run")
        children = _children(proc.pid)
        assert children, "no discovery child while the baselines train"
        assert all(_state(c) not in (None, "Z") for c in children)
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return proc, children


@pytest.mark.slow
def test_sigkill_leaves_no_discovery_child_running(tmp_path, canonical_data_dir):
    proc, children = _start_training_beside_discovery(canonical_data_dir, tmp_path / "out")
    try:
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while _live_group(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _live_group(proc.pid) == [], "a child of the killed command still runs"
        assert all(_state(c) in (None, "Z") for c in children)
    finally:
        for pid in _live_group(proc.pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_a_discovery_child_killed_mid_run_is_one_line_and_keeps_the_runs(
    tmp_path, canonical_data_dir
):
    """The out-of-memory killer takes the discovery child: the command says so in one line
    and how to continue, and the runs it finished stay stored."""
    store = tmp_path / "out" / "symact.sqlite"
    proc, children = _start_training_beside_discovery(canonical_data_dir, tmp_path / "out")
    try:
        for child in children:
            os.kill(child, signal.SIGKILL)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 2, output
    assert "Traceback" not in output
    (line,) = [x for x in output.splitlines() if x.startswith("error:")]
    assert line.startswith("error: the discovery process ended (pid ")
    assert "killed by SIGKILL" in line
    assert "the runs finished so far are stored: run the same command again" in line
    assert _stored_runs(store) > 0
    assert _live_group(proc.pid) == []


def _whole(path: Path) -> None:
    """``path`` is a complete output file of its kind."""
    data = path.read_bytes()
    assert data, path
    if path.suffix == ".png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(b"IEND\xaeB`\x82"), path
    elif path.suffix == ".json":
        json.loads(data)
    elif path.suffix == ".html":
        assert data.rstrip().endswith(b"</html>"), path
    elif path.suffix == ".csv":
        assert data.endswith(b"\n") and b"," in data.splitlines()[0], path  # a header at least


def test_an_interrupt_while_outputs_are_written_leaves_no_half_file(symact, tmp_path, monkeypatch):
    out = tmp_path / "out"
    argv = ["benchmark", "--datasets", "breast_cancer", "--activations", "relu", *FAST]
    argv += ["--out", str(out)]

    real_replace = os.replace
    moved: list[str] = []

    def replace_then_sigint(src, dst, *args, **kwargs):
        real_replace(src, dst, *args, **kwargs)
        if Path(dst).parent == out:  # an output moving out of the staging folder
            moved.append(Path(dst).name)
            if len(moved) == 4:  # Ctrl-C between two moves
                os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(outputs.os, "replace", replace_then_sigint)
    r = symact(*argv)
    monkeypatch.undo()
    assert r.status == 130, r.out + r.err
    assert "Run the same command again to continue where it stopped." in r.out + r.err
    assert "Traceback" not in r.out + r.err
    present = set(listing(out)) - {"symact.sqlite"}
    assert present == set(moved) and len(present) == 4, present  # no staging folder left
    for name in present:
        _whole(out / name)

    r = symact("report", str(out))
    assert r.status == 0, r.err
    assert r.out.strip() == f"rebuilt the benchmark outputs in {out}/ (report.html)"
    assert set(listing(out)) == EVERY_OUTPUT | {"symact.sqlite"}
    for name in EVERY_OUTPUT:
        _whole(out / name)
    rows = csv_rows(out / "final_efficiency_results.csv")
    assert sorted((x["Architecture"], x["Activation"]) for x in rows) == [
        ("Heavy", "ReLU"),
        ("Light", "ReLU"),
    ]


def test_an_interrupt_while_outputs_are_drawn_keeps_the_old_outputs(symact, tmp_path, monkeypatch):
    out = tmp_path / "out"
    argv = ["benchmark", "--datasets", "breast_cancer", "--activations", "relu", *FAST]
    argv += ["--out", str(out)]
    assert symact(*argv).status == 0
    old = {name: (out / name).read_bytes() for name in EVERY_OUTPUT}

    real_review = outputs.write_review

    def sigint_mid_review(review, folder, **kwargs):
        (Path(folder) / "report.html").write_text("<html><body>half")  # a half-written file
        os.kill(os.getpid(), signal.SIGINT)
        return real_review(review, folder, **kwargs)

    monkeypatch.setattr(outputs, "write_review", sigint_mid_review)
    r = symact(*argv)  # all runs stored: it only rewrites the outputs
    monkeypatch.undo()
    assert r.status == 130
    assert "Run the same command again to continue where it stopped." in r.out + r.err
    assert set(listing(out)) == EVERY_OUTPUT | {"symact.sqlite"}  # the staging folder is gone
    assert {name: (out / name).read_bytes() for name in EVERY_OUTPUT} == old
