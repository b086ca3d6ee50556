"""``symact search`` end to end on real rows: outputs, determinism, resume after a real
interrupt, the test part never read before the verdict, and the verdict's statistics."""

from __future__ import annotations

import csv
import json
import math
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from search_args import SMALL, interrupt_when_stored
from sklearn.model_selection import train_test_split

from symact.cli import main


def _mail_csv(shared_data: Path, path: Path, *, poison_test: bool = False, seed: int = 0) -> Path:
    """Real spambase rows (the fixture slice, values as written there) as a user's CSV with
    yes/no labels. With ``poison_test``, the rows the search's --seed holds out as test get
    their features tripled and their labels flipped."""
    rows = [ln.split(",") for ln in (shared_data / "spambase.data").read_text().splitlines()[:2500]]
    features = [r[:-1] for r in rows]
    labels = ["yes" if float(r[-1]) else "no" for r in rows]
    if poison_test:
        _, test = train_test_split(np.arange(len(rows)), test_size=0.2, random_state=seed)
        for i in test:  # tripled features (a leak would move the standardization), flipped labels
            features[int(i)] = [repr(3 * float(v)) for v in features[int(i)]]
            labels[int(i)] = "no" if labels[int(i)] == "yes" else "yes"
    header = [f"f{i}" for i in range(len(features[0]))] + ["spam"]
    lines = [",".join(header)] + [",".join([*f, t]) for f, t in zip(features, labels, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _search(csv_path: Path, out: Path, *extra: str) -> int:
    argv = [
        "search",
        "--dataset",
        str(csv_path),
        "--target",
        "spam",
        "--positive",
        "yes",
        "--out",
        str(out),
        *SMALL,
        *extra,
    ]
    return main(argv)


def _candidates(out: Path) -> list[tuple]:
    doc = json.loads((out / "search.json").read_text())
    return [(c["formula"], c["status"], c["fitness"], c["origin"]) for c in doc["candidates"]]


def _results(out: Path) -> list[dict[str, str]]:
    with (out / "search_results.csv").open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_a_search_writes_its_outputs_and_is_deterministic(tmp_path, shared_data, capsys):
    data = _mail_csv(shared_data, tmp_path / "Mail.csv")
    assert _search(data, tmp_path / "a") == 0
    out = tmp_path / "a"
    printed = capsys.readouterr().out
    assert "label column 'spam'" in printed and "candidate 1" in printed
    doc = json.loads((out / "search.json").read_text())
    statuses = {c["status"] for c in doc["candidates"]}
    assert statuses <= {"trained", "failed", "rejected", "duplicate"} and "trained" in statuses
    assert sum(c["status"] in ("trained", "failed") for c in doc["candidates"]) == 40  # budget
    known = [(c["formula"], c["learnable"]) for c in doc["candidates"] if c["origin"] == "known"]
    plain = ["relu(x)", "gelu(x)", "silu(x)", "tanh(x)", "mul(x, cos(x))", "elu(x)", "selu(x)",
             "mish(x)", "leaky_relu(x)"]  # fmt: skip
    # and PReLU, its slope learned (the search learns no other constants by default)
    prelu = ("sub(relu(x), mul(0.25, relu(neg(x))))", True)
    assert known == [*((f, False) for f in plain), prelu]
    for c in doc["candidates"]:
        if c["status"] == "rejected":
            assert c["reason"] and c["fitness"] is None
        if c["status"] == "duplicate":
            twin = doc["candidates"][c["twin"]]
            assert twin["status"] in ("trained", "failed") and c["fitness"] is None
    rows = _results(out)
    assert [r["activation"] for r in rows] == [
        "ReLU",
        "GELU",
        "SiLU",
        "PReLU",
        "param:ReLU",
        "Specialist",
        "candidate 1",
        "candidate 2",
    ]
    assert all(r["dataset"] == "MAIL" and int(r["n_seeds"]) == 4 for r in rows)
    assert "held out for the whole search" in doc["split"]
    for name in ("search_progress.png", "search_activations.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<!DOCTYPE html>" in (out / "search_report.html").read_text()[:200]
    # the same command in another folder: the same search, candidate by candidate
    assert _search(data, tmp_path / "b") == 0
    assert _candidates(tmp_path / "b") == _candidates(out)
    assert _results(tmp_path / "b") == rows
    # a rerun of a finished search trains nothing and rewrites the same outputs
    conn = sqlite3.connect(out / "symact.sqlite")
    before = conn.execute("SELECT key, finished_at FROM runs ORDER BY key").fetchall()
    (out / "search_results.csv").unlink()
    assert _search(data, out) == 0
    assert conn.execute("SELECT key, finished_at FROM runs ORDER BY key").fetchall() == before
    assert _results(out) == rows
    # `symact report` rebuilds them from the store alone
    (out / "search_results.csv").unlink()
    assert main(["report", str(out)]) == 0
    assert _results(out) == rows
    # another seed: another search
    assert _search(data, tmp_path / "c", "--seed", "1") == 0
    assert _candidates(tmp_path / "c") != _candidates(out)


@pytest.mark.slow
def test_the_test_part_is_not_read_before_the_verdict(tmp_path, shared_data):
    """Poisoning the test rows (tripled features, flipped labels) changes nothing in the
    search or the selection, only the verdict's test scores."""
    clean = _mail_csv(shared_data, tmp_path / "Mail.csv")
    poisoned_dir = tmp_path / "poisoned"
    poisoned_dir.mkdir()
    poisoned = _mail_csv(shared_data, poisoned_dir / "Mail.csv", poison_test=True)
    assert _search(clean, tmp_path / "a") == 0
    assert _search(poisoned, tmp_path / "b") == 0
    assert _candidates(tmp_path / "a") == _candidates(tmp_path / "b")
    a, b = _results(tmp_path / "a"), _results(tmp_path / "b")
    assert [(r["activation"], r["formula"], r["val_score"]) for r in a] == [
        (r["activation"], r["formula"], r["val_score"]) for r in b
    ]
    # the verdict reads the test part: flipped labels turn its AUCs far below one half
    assert all(float(r["test_auc_mean"]) > 0.8 for r in a)
    assert all(float(r["test_auc_mean"]) < 0.3 for r in b)


@pytest.mark.slow
def test_the_verdicts_statistics_are_scipys_on_the_stored_runs(tmp_path, shared_data):
    data = _mail_csv(shared_data, tmp_path / "Mail.csv")
    out = tmp_path / "a"
    assert _search(data, out) == 0
    doc = json.loads((out / "search.json").read_text())
    conn = sqlite3.connect(out / "symact.sqlite")
    stored = {k: json.loads(r) for k, r in conn.execute("SELECT key, result FROM runs")}
    entries = {e["activation"]: e for e in doc["entries"]}
    base = [e for name, e in entries.items() if not name.startswith("candidate")]
    best = max(base, key=lambda e: e["val_score"])  # chosen on validation, not on test
    rows = {r["activation"]: r for r in _results(out)}
    assert {r["best_baseline"] for r in rows.values()} == {best["activation"]}
    p_values = []
    for name in ("candidate 1", "candidate 2"):
        mine = {s: stored[k]["auc"] for s, k in entries[name]["finals"]}
        theirs = {s: stored[k]["auc"] for s, k in best["finals"]}
        seeds = sorted(mine)
        d = np.array([mine[s] - theirs[s] for s in seeds])
        t = stats.ttest_rel([mine[s] for s in seeds], [theirs[s] for s in seeds])
        lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
        row = rows[name]
        assert float(row["diff_vs_best_baseline"]) == pytest.approx(d.mean(), abs=1e-12)
        assert (float(row["ci_low"]), float(row["ci_high"])) == pytest.approx((lo, hi), abs=1e-9)
        assert float(row["p_value"]) == pytest.approx(t.pvalue, rel=1e-9)
        p_values.append(t.pvalue)
    small, large = sorted(p_values)
    holm = [min(1.0, 2 * small), min(1.0, max(2 * small, large))]  # Holm for two tests
    got = sorted(float(rows[n]["p_holm"]) for n in ("candidate 1", "candidate 2"))
    assert got == pytest.approx(holm, rel=1e-9)
    # the finalists were chosen by validation score at the verdict's training length
    finalists = [float(rows[n]["val_score"]) for n in ("candidate 1", "candidate 2")]
    assert finalists == sorted(finalists, reverse=True)


@pytest.mark.slow
def test_an_interrupted_search_resumes_to_the_same_result(tmp_path, shared_data):
    data = _mail_csv(shared_data, tmp_path / "Mail.csv")
    budget = ["--budget", "120", "--population", "24", "--epochs", "3"]
    assert _search(data, tmp_path / "whole", *budget) == 0
    out = tmp_path / "interrupted"
    db = out / "symact.sqlite"
    cmd = [
        sys.executable,
        "-m",
        "symact",
        "search",
        "--dataset",
        str(data),
        "--target",
        "spam",
        "--positive",
        "yes",
        "--out",
        str(out),
        *SMALL,
        *budget,
    ]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # interrupted once the first generation and some more are stored
    output = interrupt_when_stored(cmd, db, 100, env)
    assert "Run the same command again to continue the same search" in output
    with sqlite3.connect(db) as conn:
        kept = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    assert 100 <= kept < 240 + 60  # interrupted during the search, not after it
    rerun = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert _candidates(out) == _candidates(tmp_path / "whole")
    assert _results(out) == _results(tmp_path / "whole")


def test_bad_search_options_are_one_line_before_any_work(tmp_path, capsys):
    out = tmp_path / "never"
    cases = [
        (["--dataset", "breast_cancer", "--tournament", "99"], "--tournament cannot exceed"),
        (
            ["--dataset", "breast_cancer", "--operators", "add,hardswish"],
            "--operators: unknown operator 'hardswish'",
        ),
        (["--dataset", "breast_cancer", "--evaluate-on", "breast_cancer"], "--evaluate-on"),
        (["--dataset", "nope.csv"], "error: --dataset: 'nope.csv': file not found"),
        (
            ["--dataset", "breast_cancer", "--evaluate-on", "digits,gone.csv"],
            "error: --evaluate-on: 'gone.csv': file not found",
        ),
        (["--dataset", "breast_cancer", "--max-size", "1"], "--max-size must be at least 2"),
        (
            ["--dataset", "breast_cancer", "--rerank", "2", "--top", "3"],
            "--rerank (2) must be at least --top (3)",
        ),
        (["--dataset", "breast_cancer", "--final-seeds", "1"], "--final-seeds must be at least 3"),
        (["--dataset", "breast_cancer", "--seed", "-3"], "--seed"),
        (["--dataset", "breast_cancer", "--specialist", "--labels", "all"], "--specialist"),
    ]
    for argv, message in cases:
        assert main(["search", *argv, "--out", str(out)]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)
    assert not out.exists()


def test_multiclass_search_scores_accuracy(tmp_path, capsys):
    """--labels all: digits' ten classes, fitness is validation accuracy, no Specialist."""
    out = tmp_path / "digits"
    argv = [
        "search",
        "--dataset",
        "digits",
        "--labels",
        "all",
        "--out",
        str(out),
        *SMALL,
        "--budget",
        "12",
        "--population",
        "8",
    ]
    assert main(argv) == 0
    rows = _results(out)
    assert [r["activation"] for r in rows] == [
        "ReLU", "GELU", "SiLU", "PReLU", "param:ReLU", "candidate 1", "candidate 2"
    ]  # fmt: skip
    doc = json.loads((out / "search.json").read_text())
    trained = [c for c in doc["candidates"] if c["status"] == "trained"]
    assert all(0.0 <= c["fitness"] <= 1.0 for c in trained)
    assert all(not math.isnan(float(r["test_acc_mean"])) for r in rows)
