"""End to end: ``symact benchmark`` on the real dataset copies, its outputs, and resume."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from symact.cli import main

SMALL = [
    "--epochs",
    "2",
    "--seeds",
    "42",
    "--rows",
    "2000",
    "--population-size",
    "60",
    "--generations",
    "2",
]

PARAMS = {  # PROTOCOL.md's parameter counts
    ("HIGGS", "Light"): 4161,
    ("FOREST_COVER", "Light"): 5825,
    ("SPAMBASE", "Light"): 6017,
    ("HIGGS", "Heavy"): 26601,
    ("FOREST_COVER", "Heavy"): 31801,
    ("SPAMBASE", "Heavy"): 32401,
}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_paper_suite_small_writes_the_reference_outputs(tmp_path, canonical_data_dir, capsys):
    out = tmp_path / "results"
    argv = [
        "benchmark",
        "--suite",
        "paper",
        "--data-dir",
        str(canonical_data_dir),
        "--out",
        str(out),
        "--device",
        "cpu",
        *SMALL,
    ]
    assert main(argv) == 0
    rows = _rows(out / "final_efficiency_results.csv")
    assert list(rows[0]) == [
        "Dataset",
        "Architecture",
        "Activation",
        "Acc",
        "AUC",
        "Params",
        "Efficiency",
    ]
    # 5 configurations on HIGGS, 6 on each of the two others.
    assert len(rows) == 17
    for r in rows:
        assert int(r["Params"]) == PARAMS[(r["Dataset"], r["Architecture"])]
        assert " ± " in r["Acc"] and " ± " in r["AUC"]
    # sorted by dataset, then efficiency descending
    keys = [(r["Dataset"], -float(r["Efficiency"])) for r in rows]
    assert keys == sorted(keys)
    assert {r["Activation"] for r in rows if r["Dataset"] == "HIGGS"} == {
        "ReLU",
        "GELU",
        "SiLU",
        "Hybrid (Specialist)",
    }
    assert "Hybrid (Transfer)" in {r["Activation"] for r in rows if r["Dataset"] == "SPAMBASE"}
    for name in (
        "activation_HIGGS.png",
        "activation_FOREST_COVER.png",
        "activation_SPAMBASE.png",
        "activation_combined.png",
        "accuracy_vs_params.png",
    ):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, name
    results = json.loads((out / "results.json").read_text())
    assert len(results["runs"]) == 17 * 1
    assert {"torch", "gplearn", "scikit-learn", "symact", "python"} <= set(results["environment"])
    higgs = results["discoveries"]["HIGGS"]
    assert set(higgs) >= {"program", "activation", "simplified", "latex"}
    assert "X" not in higgs["activation"]
    printed = capsys.readouterr().out
    assert "| Dataset" in printed and "17 runs: 17 trained" in printed

    # The same command again trains nothing and leaves every stored row untouched.
    conn = sqlite3.connect(out / "symact.sqlite")
    before = conn.execute("SELECT key, finished_at FROM runs ORDER BY key").fetchall()
    assert main(argv) == 0
    after = conn.execute("SELECT key, finished_at FROM runs ORDER BY key").fetchall()
    assert before == after
    assert "0 trained, 17 already stored" in capsys.readouterr().out


@pytest.mark.slow
def test_ctrl_c_keeps_finished_runs_and_a_rerun_continues(tmp_path, canonical_data_dir):
    out = tmp_path / "results"
    db = out / "symact.sqlite"
    cmd = [
        sys.executable,
        "-m",
        "symact",
        "benchmark",
        "--suite",
        "paper",
        "--datasets",
        "spambase,higgs",
        "--data-dir",
        str(canonical_data_dir),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--epochs",
        "40",
        "--seeds",
        "42,43",
        "--rows",
        "4000",
        "--population-size",
        "60",
        "--generations",
        "2",
    ]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True
    )
    deadline = time.time() + 120
    stored = 0
    while time.time() < deadline and proc.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    stored = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
            except sqlite3.OperationalError:
                stored = 0
            if stored:
                break
        time.sleep(0.05)
    assert proc.poll() is None, "the grid finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert "Run the same command again" in output
    with sqlite3.connect(db) as conn:
        kept = dict(conn.execute("SELECT key, finished_at FROM runs").fetchall())
    assert 0 < len(kept) < 22  # spambase 6 configs + higgs 5, times 2 seeds

    rerun = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"{22 - len(kept)} trained, {len(kept)} already stored" in rerun.stdout
    with sqlite3.connect(db) as conn:
        final = dict(conn.execute("SELECT key, finished_at FROM runs").fetchall())
    assert len(final) == 22
    assert all(final[k] == v for k, v in kept.items())  # nothing retrained


def test_a_users_csv_runs_through_the_same_suite(tmp_path, shared_data, capsys, monkeypatch):
    # Real rows: every third row of spambase (the file is sorted by class), as a user's file.
    lines = (shared_data / "spambase.data").read_text().splitlines()[::3]
    header = ",".join([f"f{i}" for i in range(57)] + ["is_spam"])
    path = tmp_path / "My_Mail.csv"
    path.write_text("\n".join([header, *lines]) + "\n")
    out = tmp_path / "results"
    argv = [
        "benchmark",
        "--suite",
        "paper",
        "--datasets",
        f"HIGGS,{path}",
        "--data-dir",
        str(tmp_path / "nothing-cached"),
        "--out",
        str(out),
        "--device",
        "cpu",
        *SMALL,
    ]
    # HIGGS is not in that data dir and the mirror refuses: a clear error, no traceback.
    monkeypatch.setenv("SYMACT_UCI_MIRROR", "http://127.0.0.1:9/")
    assert main(argv) == 2
    assert "HIGGS.csv.gz" in capsys.readouterr().err

    argv = [
        "benchmark",
        "--suite",
        "paper",
        "--datasets",
        str(path),
        "--out",
        str(out),
        "--device",
        "cpu",
        *SMALL,
    ]
    assert main(argv) == 0
    rows = _rows(out / "final_efficiency_results.csv")
    assert len(rows) == 5  # Heavy ReLU, Light ReLU/GELU/SiLU, Specialist; no transfer source
    assert {r["Params"] for r in rows if r["Architecture"] == "Light"} == {"6017"}
    assert (out / f"activation_{rows[0]['Dataset']}.png").stat().st_size > 5000
