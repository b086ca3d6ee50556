"""The surrogate pre-screen on real searches of real covertype rows: proposals it screens
are recorded with their prediction and never trained, ``off`` is the search without it,
a search resumed after a real interrupt screens the same proposals, its settings are part of
the search's identity, and its features are deterministic."""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from search_args import SMALL, interrupt_when_stored

from symact.cli import main
from symact.experiments import DataCache, ResultsStore, run_grid
from symact.experiments.specs import DataSpec
from symact.experiments.store import StoreError
from symact.formula.parser import parse_formula
from symact.models import ModelSpec
from symact.search.evolution import OPERATOR_TABLE_DOCUMENT, Search, SearchSettings
from symact.search.screen import screen
from symact.search.space import SearchSpace
from symact.search.surrogate import (
    SHAPE_WIDTH,
    SURROGATE_DOCUMENT,
    SurrogateSettings,
    check_surrogate,
    features,
    knn_predict,
    surrogate_summary,
)


def _settings(surrogate: SurrogateSettings) -> SearchSettings:
    return SearchSettings(
        budget=48,
        population=16,
        tournament=4,
        batch=8,
        epochs=1,
        search_seeds=(1,),
        rerank=2,
        top=1,
        space=SearchSpace(max_size=9),
        light=ModelSpec(hidden=(8,)),
        surrogate=surrogate,
    )


def _search(folder: Path, data_dir: Path, surrogate: SurrogateSettings):
    """A real search on 1,500 covertype rows; returns (state, store path, the search)."""
    cache = DataCache(data_dir)
    data = cache.identify(DataSpec("covertype", rows=1500))
    path = folder / "symact.sqlite"
    with ResultsStore(path) as store:

        def train(specs):
            run_grid(specs, store, cache, device="cpu")

        search = Search(data, _settings(surrogate), store, cache, train)
        return search.run(), path, search


def _record(state) -> list[tuple]:
    return [(str(c.formula), c.status, c.fitness, c.origin, c.predicted) for c in state.candidates]


KNN = SurrogateSettings("knn", warmup=16)


@pytest.fixture(scope="module")
def screened_search(tmp_path_factory, canonical_data_dir):
    return _search(tmp_path_factory.mktemp("knn"), canonical_data_dir, KNN)


def test_screened_candidates_are_recorded_and_never_trained(screened_search):
    state, path, search = screened_search
    screened = [c for c in state.candidates if c.status == "screened"]
    trained = [c for c in state.candidates if c.status in ("trained", "failed")]
    assert screened, "the surrogate screened nothing: the test would test nothing"
    # the budget counts trained candidates: the screened ones did not use it up
    assert len(trained) == state.trained == 48
    with ResultsStore(path) as store:
        for c in screened:
            assert c.predicted is not None and math.isnan(c.fitness)
            assert c.reason.startswith(f"predicted {c.predicted:.4f}, below the population's 0.5")
            keys = [spec.key() for spec in search.run_specs(c.formula, learnable=search.learns(c))]
            assert store.stored_runs(keys) == {}, c.formula  # no run of it in the store
        for c in trained:
            keys = [spec.key() for spec in search.run_specs(c.formula, learnable=search.learns(c))]
            assert len(store.stored_runs(keys)) == 1
    # no proposal is judged before the warm-up: the first generation is all trained
    first = [c for c in state.candidates if c.generation == 0]
    assert all(c.predicted is None and c.status != "screened" for c in first)
    judged = [c for c in state.candidates if c.predicted is not None]
    assert min(c.index for c in judged) > max(c.index for c in first)
    summary = surrogate_summary(state.candidates)
    assert summary["screened"] == len(screened) and summary["trained"] == 48
    assert -1.0 <= summary["spearman"] <= 1.0 and summary["spearman_n"] >= 3


def test_off_is_the_search_without_a_surrogate(tmp_path, canonical_data_dir, screened_search):
    """``off`` and a surrogate that never gets past its warm-up propose, train and score the
    same candidates: judging draws nothing from the search's generator. Up to the first
    proposal it judges, a screening search is that search too."""
    off, _, _ = _search(tmp_path / "off", canonical_data_dir, SurrogateSettings("off"))
    idle, _, _ = _search(tmp_path / "idle", canonical_data_dir, SurrogateSettings("knn", 10**6))
    assert _record(idle) == _record(off)
    assert {c.status for c in off.candidates} <= {"trained", "failed", "rejected", "duplicate"}
    assert all(c.predicted is None for c in off.candidates)
    knn = screened_search[0]
    first = min(c.index for c in knn.candidates if c.predicted is not None)
    assert _record(knn)[:first] == _record(off)[:first]
    assert _record(knn) != _record(off)
    # off leaves the search's identity as it was; knn adds its settings to it
    assert "surrogate" not in _settings(SurrogateSettings("off")).identity()
    assert _settings(KNN).identity()["surrogate"] == {
        "model": "knn",
        "warmup": 16,
        "neighbours": 7,
        "quantile": 0.5,
    }


def test_the_regression_is_scikit_learns(screened_search):
    """knn_predict equals KNeighborsRegressor(7, weights="distance") on the search's own
    standardized features: each trained candidate predicted from those before it."""
    from sklearn.neighbors import KNeighborsRegressor

    state, _, search = screened_search
    trained = [c for c in state.candidates if c.status == "trained"]
    X = np.array([search.surrogate.features[c.index] for c in trained])
    X = (X - X.mean(axis=0)) / np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
    y = np.array([c.fitness for c in trained])
    for i in range(10, len(trained)):
        model = KNeighborsRegressor(n_neighbors=7, weights="distance").fit(X[:i], y[:i])
        want = model.predict(X[i : i + 1])[0]
        assert knn_predict(X[:i], y[:i], X[i], 7) == pytest.approx(want, abs=1e-12)


def test_features_are_deterministic():
    """The same features from the screen's values and computed afresh, and in another
    process; scale changes the six numbers, not the shape."""
    relu, double = parse_formula("relu(x)"), parse_formula("mul(relu(x), 2.0)")
    a = features(relu, screen(relu).values)
    assert np.array_equal(a, features(relu)) and np.all(np.isfinite(a))
    b = features(double)
    assert np.allclose(a[:SHAPE_WIDTH], b[:SHAPE_WIDTH])
    assert b[SHAPE_WIDTH] == pytest.approx(a[SHAPE_WIDTH] + math.log(2.0))
    code = (
        "import hashlib; from symact.formula.parser import parse_formula; "
        "from symact.search.surrogate import features; "
        "print(hashlib.sha256(features(parse_formula('relu(x)')).tobytes()).hexdigest())"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == hashlib.sha256(a.tobytes()).hexdigest()


def test_another_surrogate_setting_is_refused_in_one_line(tmp_path, capsys):
    """A store whose search screened with other settings (or, from before the pre-screen,
    screened nothing) refuses a search that would screen otherwise."""
    with ResultsStore(tmp_path / "a.sqlite") as store:
        check_surrogate(store, KNN, started=False)
        check_surrogate(store, KNN, started=True)  # the same settings again: accepted
        assert store.get_document(SURROGATE_DOCUMENT) == KNN.identity()
        with pytest.raises(StoreError, match=r"--surrogate knn \(warmup 16, 7 neighbours"):
            check_surrogate(store, SurrogateSettings("off"), started=True)
    out = tmp_path / "out"
    out.mkdir()
    with ResultsStore(out / "symact.sqlite") as store:  # a search from before the pre-screen
        store.put_document(OPERATOR_TABLE_DOCUMENT, SearchSpace().operator_table())
    argv = ["search", "--dataset", "breast_cancer", "--out", str(out), *SMALL,
            "--no-specialist-baseline", "--data-dir", str(tmp_path / "data"),
            "--surrogate", "knn"]  # fmt: skip
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "screened its proposals with --surrogate off, this one with --surrogate knn" in line
    assert "use a new --out" in line
    with ResultsStore(out / "symact.sqlite") as store:
        assert store.count() == 0  # nothing trained


def test_bad_surrogate_options_are_one_line(tmp_path, capsys):
    out = tmp_path / "never"
    for argv, message in [
        (["--surrogate-quantile", "1"], "--surrogate-quantile must be below 1"),
        (["--surrogate-quantile", "-0.5"], "--surrogate-quantile"),
        (["--surrogate", "gp"], "--surrogate"),
        (["--surrogate-warmup", "0"], "--surrogate-warmup"),
    ]:
        full = ["search", "--dataset", "breast_cancer", *argv, "--out", str(out)]
        try:
            status = main(full)
        except SystemExit as exc:  # argparse's own checks (choices, types) exit with 2
            status = exc.code
        assert status == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)
    assert not out.exists()


def _cli(out: Path, data_dir: Path) -> list[str]:
    return [
        sys.executable, "-m", "symact", "search", "--dataset", "covertype",
        "--data-dir", str(data_dir), "--rows", "2000", "--out", str(out), *SMALL,
        "--budget", "120", "--population", "24", "--no-specialist-baseline",
        "--surrogate", "knn", "--surrogate-warmup", "24",
    ]  # fmt: skip


def _candidates(out: Path) -> list[tuple]:
    doc = json.loads((out / "search.json").read_text())
    return [
        (c["formula"], c["status"], c["fitness"], c["predicted"], c["reason"])
        for c in doc["candidates"]
    ]


@pytest.mark.slow
def test_a_resumed_search_screens_the_same_proposals(tmp_path, canonical_data_dir):
    """Interrupted (SIGINT) mid-search and run again, a screening search ends with the same
    candidates, the same screened ones with the same predictions, and the same verdict; its
    Spearman is in search.json and search_report.html."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    whole = tmp_path / "whole"
    done = subprocess.run(_cli(whole, canonical_data_dir), capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    out = tmp_path / "interrupted"
    db = out / "symact.sqlite"
    # interrupted past the warm-up (24 candidates, 2 seeds each): screening began
    interrupt_when_stored(_cli(out, canonical_data_dir), db, 100, env)
    with sqlite3.connect(db) as conn:
        kept = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    assert 100 <= kept < 240  # interrupted during the search (120 candidates, 2 seeds)
    rerun = subprocess.run(_cli(out, canonical_data_dir), capture_output=True, text=True, env=env)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    got, want = _candidates(out), _candidates(whole)
    assert got == want
    assert any(status == "screened" for _, status, *_ in want)
    assert (out / "search_results.csv").read_text() == (whole / "search_results.csv").read_text()
    doc = json.loads((out / "search.json").read_text())
    record = doc["surrogate"]
    assert record["screened"] == sum(status == "screened" for _, status, *_ in want)
    assert doc["settings"]["surrogate"]["warmup"] == 24
    assert "screened" in rerun.stdout
    page = (out / "search_report.html").read_text()
    assert "Surrogate pre-screen" in page and "Screened candidates (not trained)" in page
    assert f">{record['spearman']:.4f}<" in page
