"""The search's rungs (successive halving over training length) and its selection rows: the
promotions follow the stored scores, every rung and its Spearman are recorded, the last rung
trains at the verdict's length on rows the search's fitness never read, and a search
interrupted mid-rung resumes without training anything stored again."""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from search_args import SMALL

from symact.cli import main
from symact.data import load_dataset
from symact.errors import SettingError
from symact.experiments.datacache import make_split, training_part
from symact.experiments.store import ResultsStore
from symact.formula.parser import parse_formula
from symact.search.evolution import SearchSettings
from symact.search.rungs import RUNGS_DOCUMENT, promotions, spearman
from symact.search.verdict import conclusion, judge


def test_the_default_ladder_multiplies_by_eta_up_to_the_verdicts_epochs():
    # the default last rung trains to convergence; the screening rungs stay below 15
    assert SearchSettings().ladder == (3, 9, 300)
    assert SearchSettings().ladder_text() == "3 -> 9 -> auto (at most 300, patience 16)"
    assert SearchSettings(epochs=1, eta=2).ladder == (1, 2, 4, 8, 300)
    fixed = {"final_patience": None}
    assert SearchSettings(final_epochs=15, **fixed).ladder == (3, 9, 15)
    assert SearchSettings(epochs=2, final_epochs=3, **fixed).ladder == (2, 3)
    assert SearchSettings(epochs=1, final_epochs=20, eta=2, **fixed).ladder == (1, 2, 4, 8, 16, 20)
    assert SearchSettings(epochs=1, final_epochs=9, rungs=(4,), **fixed).ladder == (1, 4, 9)
    assert SearchSettings(epochs=1, final_epochs=9, **fixed).ladder_text() == "1 -> 3 -> 9"
    with pytest.raises(SettingError, match="rungs"):
        SearchSettings(epochs=3, final_epochs=9, rungs=(12,))
    with pytest.raises(SettingError, match="eta"):
        SearchSettings(eta=1)


def test_promotions_keep_one_in_eta_capped_at_the_last_rung_and_never_below_top():
    ladder = (3, 9, 15)
    assert promotions(1000, 0, ladder, 3, 30, 3) == 334  # into rung 1: ceil(1000 / 3)
    assert promotions(334, 1, ladder, 3, 30, 3) == 30  # into the last: at most --rerank
    assert promotions(5, 0, ladder, 3, 30, 3) == 3  # never fewer than the finalists
    assert promotions(2, 0, ladder, 3, 30, 3) == 2  # nor more than there are


def test_spearman_is_scipys_on_the_candidates_in_both_rungs():
    rng = np.random.default_rng(0)
    before = {i: float(v) for i, v in enumerate(rng.random(30))}
    after = {i: before[i] + float(rng.normal(0, 0.2)) for i in range(0, 30, 2)}
    after[99] = 0.5  # not in the earlier rung: left out
    common = sorted(set(before) & set(after))
    expected = stats.spearmanr([before[i] for i in common], [after[i] for i in common])
    assert spearman(before, after) == pytest.approx(expected.statistic, abs=1e-12)
    assert spearman(before, {0: 0.1, 2: 0.2}) is None  # too few to rank


def test_the_selection_rows_are_neither_trained_nor_scored_on_by_the_search():
    """The search's fit and validation rows and the selection rows partition the training
    part; the last rung trains on all but the selection rows and is scored on those."""
    ds = load_dataset("breast_cancer")
    s = SearchSettings(seed=4)
    X, _ = training_part(ds, s.test_split())
    search, select = make_split(ds, s.search_split()), make_split(ds, s.select_split())
    assert len(search.y_train) + len(search.y_test) + len(select.y_test) == len(X)
    assert len(select.y_train) == len(search.y_train) + len(search.y_test)
    assert len(select.y_test) == math.ceil(0.2 * len(X))
    assert s.search_split().scored_on == "validation"
    assert s.select_split().scored_on == "selection"
    # without a selection share the last rung reads the search's own validation rows
    assert (
        SearchSettings(selection=0.0).select_split() == SearchSettings(selection=0.0).search_split()
    )


def test_the_exported_runs_fit_rows_are_the_splits_training_rows():
    """``export``'s record of the rows a run's standardization was fitted on agrees with
    ``make_split`` for the search's and the last rung's splits too."""
    from sklearn.preprocessing import StandardScaler

    from symact.experiments.specs import DataSpec, RunSpec
    from symact.export.runs import _fit_rows
    from symact.models import LIGHT

    ds = load_dataset("breast_cancer")
    s = SearchSettings(seed=3)
    for split in (s.search_split(), s.select_split(), s.test_split()):
        spec = RunSpec(DataSpec("breast_cancer"), LIGHT, 1, s.train, split)
        rows = ds.X[_fit_rows(len(ds.y), spec)]
        expected = StandardScaler().fit_transform(rows.astype(np.float64)).astype(np.float32)
        assert np.array_equal(make_split(ds, split).X_train, expected), split


def test_a_finalist_that_did_not_beat_the_best_baseline_on_selection_rows_is_not_offered():
    def entry(name: str, val: float) -> dict:
        finals = [[seed, f"{name}-{seed}"] for seed in (1, 2, 3)]
        return {"dataset": "D", "activation": name, "formula": "x", "val_score": val,
                "n_classes": 2, "finals": finals}  # fmt: skip

    entries = [entry("ReLU", 0.90), entry("candidate 1", 0.89), entry("candidate 2", 0.91)]
    test_auc = {"ReLU": (0.80, 0.81, 0.82), "candidate 1": (0.90, 0.92, 0.91),
                "candidate 2": (0.80, 0.82, 0.81)}  # fmt: skip
    results = {
        f"{name}-{seed}": {"accuracy": 0.5, "auc": auc, "failed": False}
        for name, aucs in test_auc.items()
        for seed, auc in zip((1, 2, 3), aucs, strict=True)
    }
    rows = {r["activation"]: r for r in judge(entries, results)}
    assert [rows[n]["offered"] for n in ("ReLU", "candidate 1", "candidate 2")] == [
        False,
        False,
        True,
    ]
    text = conclusion(list(rows.values()), "D", "AUC")
    assert "candidate 1 (x) ahead on test but not offered" in text
    assert "found nothing better" not in text  # candidate 2 beat ReLU on selection rows
    entries[2]["val_score"] = 0.90  # a tie is no margin
    text = conclusion(judge(entries, results), "D", "AUC")
    assert "The search found nothing better than ReLU: on the selection rows" in text


def test_bad_rung_options_are_one_line_before_any_work(tmp_path, capsys):
    out = tmp_path / "never"
    cases = [
        (["--rungs", "3,9,15", "--epochs", "2"], "--rungs sets the first and last rung's"),
        (["--rungs", "9,3"], "--rungs: '9,3' is not a list of at least two increasing"),
        (["--rungs", "5"], "--rungs: '5' is not a list"),
        (["--rungs", "3,x"], "--rungs: '3,x'"),
        (["--eta", "1"], "--eta must be at least 2"),
        (["--rungs", "3,auto,9"], "--rungs: '3,auto,9' is not a list"),
        (["--rungs", "auto,9"], "--rungs: 'auto,9' is not a list"),
        (["--final-epochs", "15", "--patience", "4"], "--patience applies to a last rung"),
        (["--rungs", "3,9,15", "--patience", "4"], "--patience applies to a last rung"),
        (["--select-seeds", "500"], "--select-seeds must be at most 499, got 500"),
    ]
    for argv, message in cases:
        assert main(["search", "--dataset", "breast_cancer", *argv, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and err.count("\n") == 1, (argv, err)
    assert not out.exists()


def _mail_csv(shared_data: Path, path: Path) -> Path:
    lines = (shared_data / "spambase.data").read_text().splitlines()[:2500]
    rows = [line.split(",") for line in lines]
    header = [f"f{i}" for i in range(len(rows[0]) - 1)] + ["spam"]
    body = [",".join([*r[:-1], "yes" if float(r[-1]) else "no"]) for r in rows]
    path.write_text("\n".join([",".join(header), *body]) + "\n")
    return path


def _argv(data: Path, out: Path, *extra: str) -> list[str]:
    return ["search", "--dataset", str(data), "--target", "spam", "--positive", "yes",
            "--out", str(out), *SMALL, *extra]  # fmt: skip


#: SMALL's --epochs and --final-epochs give way to three rungs
RUNGS = ["--rungs", "1,2,4", "--eta", "2"]


def _without_epochs(argv: list[str]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("--epochs", "--final-epochs"):
            skip = True
        else:
            out.append(a)
    return out


@pytest.mark.slow
def test_every_rung_is_recorded_and_promotes_the_best_of_the_one_before(tmp_path, shared_data):
    data = _mail_csv(shared_data, tmp_path / "Mail.csv")
    out = tmp_path / "a"
    assert main(_without_epochs(_argv(data, out, *RUNGS))) == 0
    doc = json.loads((out / "search.json").read_text())
    rungs = doc["rungs"]
    assert [r["epochs"] for r in rungs] == [1, 2, 4] and doc["settings"]["ladder"] == [1, 2, 4]
    trained = {c["index"]: c for c in doc["candidates"] if c["status"] in ("trained", "failed")}
    names = {i: c["formula"] for i, c in trained.items()}
    assert rungs[0]["candidates"] == list(trained)  # every trained candidate is at rung 0
    assert rungs[0]["scores"] == [trained[i]["fitness"] for i in rungs[0]["candidates"]]
    # the baselines' shapes, and the first generation's PReLU (a learnable baseline)
    baselines = {i for i, c in trained.items() if c["learnable"]}
    baselines |= {i for i, n in names.items() if n in ("relu(x)", "gelu(x)", "silu(x)")}
    for before, after in itertools.pairwise(rungs):
        assert after["candidates"] == before["promoted"]
        score = dict(zip(before["candidates"], before["scores"], strict=True))
        promoted = [score[i] for i in before["promoted"]]
        assert promoted == sorted(promoted, reverse=True)  # the best go on, best first
        eligible = [i for i, v in score.items() if v is not None and i not in baselines]
        assert len(before["promoted"]) <= promotions(
            len(eligible), before["rung"], (1, 2, 4), 2, 4, 2
        )
        # one passed over that scored above a promoted one is a baseline or a shape promoted
        for i, v in score.items():
            if i not in before["promoted"] and v is not None and v > min(promoted):
                assert i in baselines or any(
                    _same_shape(names[i], names[j]) for j in before["promoted"]
                ), names[i]
        after_score = dict(zip(after["candidates"], after["scores"], strict=True))
        common = [i for i in after["candidates"] if after_score[i] is not None]
        expected = stats.spearmanr([score[i] for i in common], [after_score[i] for i in common])
        assert after["spearman"] == pytest.approx(expected.statistic, abs=1e-12)
    last = rungs[-1]
    assert last["rows"] == "selection" and last["seeds"] == list(range(501, 507))  # the default six
    assert [r["rows"] for r in rungs[:-1]] == ["search validation"] * 2
    # the finalists are the last rung's best, with their scores there as validation scores
    entries = {e["activation"]: e for e in doc["entries"]}
    last_score = dict(zip(last["candidates"], last["scores"], strict=True))
    for n, i in enumerate(last["promoted"][:2], start=1):
        assert entries[f"candidate {n}"]["formula"] == names[i]
        assert entries[f"candidate {n}"]["val_score"] == pytest.approx(last_score[i])
    # the store holds the same record, and the runs of each rung at its epochs
    with ResultsStore(out / "symact.sqlite") as store:
        assert store.get_document(RUNGS_DOCUMENT)["rungs"] == rungs
    with sqlite3.connect(out / "symact.sqlite") as conn:
        specs = [json.loads(s) for (s,) in conn.execute("SELECT spec FROM runs")]
    epochs = {s["train"].get("epochs") for s in specs}
    assert {2, 4} <= epochs
    html = (out / "search_report.html").read_text(encoding="utf-8")
    table = html[html.index('id="table-rungs"') :]
    table = table[: table.index("</table>")]
    assert table.count("<tr") == 1 + len(rungs)
    assert "Spearman with the previous rung" in html


@pytest.mark.slow
def test_the_last_rung_and_the_verdict_train_to_convergence(tmp_path, shared_data):
    data = _mail_csv(shared_data, tmp_path / "Mail.csv")
    out = tmp_path / "auto"
    argv = _without_epochs(_argv(data, out, "--rungs", "1,2,auto", "--eta", "2"))
    assert main([*argv, "--patience", "2", "--select-seeds", "3"]) == 0
    doc = json.loads((out / "search.json").read_text())
    assert doc["settings"]["ladder"] == [1, 2, 300] and doc["settings"]["final_patience"] == 2
    rungs = doc["rungs"]
    assert [r["patience"] for r in rungs] == [None, None, 2]
    assert rungs[-1]["seeds"] == [501, 502, 503]  # --select-seeds: the last rung's
    with sqlite3.connect(out / "symact.sqlite") as conn:
        rows = [
            (json.loads(s), json.loads(r)) for s, r in conn.execute("SELECT spec, result FROM runs")
        ]
    screening = [r for s, r in rows if s["train"].get("patience") is None]
    converged = [(s, r) for s, r in rows if s["train"].get("patience") == 2]
    assert screening and converged
    assert {s["train"]["epochs"] for s, _ in converged} == {300}
    assert {r["epochs_run"] for r in screening} <= {1, 2}
    # each model stopped on its own: 2 epochs after its best, long before the maximum
    for _, r in converged:
        assert r["stopped_early"] and r["epochs_run"] == r["best_epoch"] + 2 < 300
    assert len({r["epochs_run"] for _, r in converged}) > 1
    # the last rung's and the verdict's runs: selection rows (select seeds), then test
    seeds = {s["seed"] for s, _ in converged}
    assert {501, 502, 503} <= seeds and set(range(1001, 1005)) <= seeds
    assert 504 not in seeds
    html = (out / "search_report.html").read_text(encoding="utf-8")
    assert "auto (at most 300, patience 2)" in html


def _same_shape(a: str, b: str) -> bool:
    """Values on N(0, 1) inputs correlated above 0.99 (the search's one shape)."""
    x = np.random.default_rng(0).standard_normal(2000)
    ya, yb = (
        np.broadcast_to(parse_formula(f).to_numpy(features=False)(x), x.shape) for f in (a, b)
    )
    return abs(float(np.corrcoef(ya, yb)[0, 1])) > 0.99


def _stored(db: Path) -> int:
    try:
        with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
def test_a_search_interrupted_mid_rung_resumes_without_training_anything_stored(
    tmp_path, shared_data
):
    data = _mail_csv(shared_data, tmp_path / "Mail.csv")
    extra = ["--budget", "120", "--population", "24", "--rerank", "8", *RUNGS]
    whole = tmp_path / "whole"
    assert main(_without_epochs(_argv(data, whole, *extra))) == 0
    out = tmp_path / "interrupted"
    db = out / "symact.sqlite"
    cmd = [sys.executable, "-m", "symact", *_without_epochs(_argv(data, out, *extra))]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, start_new_session=True)  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + 240
    while not any(line.startswith("rung 1 of") for line in lines):
        assert proc.poll() is None, "".join(lines)
        assert time.monotonic() < deadline, "rung 1 never started"
        time.sleep(0.01)
    at_rung_1 = _stored(db)
    while _stored(db) <= at_rung_1:  # a first batch of rung 1 committed
        assert proc.poll() is None, "the search finished before it could be interrupted"
        assert time.monotonic() < deadline, "rung 1 stored nothing"
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    reader.join(timeout=10)
    printed = "".join(lines)
    assert "candidates trained (rung 1 of 2)" in printed, printed
    assert "Run the same command again to continue the same search" in printed
    with sqlite3.connect(db) as conn:
        before = dict(conn.execute("SELECT key, finished_at FROM runs"))
    with ResultsStore(db) as store:
        doc = store.get_document(RUNGS_DOCUMENT)
    assert len(doc["rungs"]) == 1  # rung 0's promotions committed, rung 1 unfinished
    rung_1 = 2 * len(doc["rungs"][0]["promoted"])  # two search seeds each
    assert at_rung_1 < len(before) < at_rung_1 + rung_1  # stopped mid-rung
    rerun = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    with sqlite3.connect(db) as conn:
        after = dict(conn.execute("SELECT key, finished_at FROM runs"))
    assert {k: after[k] for k in before} == before  # nothing stored was trained again
    mine, theirs = (json.loads((d / "search.json").read_text()) for d in (out, whole))
    assert mine["rungs"] == theirs["rungs"]
    assert mine["candidates"] == theirs["candidates"]
    assert (out / "search_results.csv").read_text() == (whole / "search_results.csv").read_text()
