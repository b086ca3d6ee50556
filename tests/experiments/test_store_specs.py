"""The results store on a real SQLite file, and the content keys of specs."""

from __future__ import annotations

import sqlite3

import pytest

from symact.experiments import DataSpec, ResultsStore, RunSpec, SplitSpec
from symact.models import HEAVY, LIGHT, ModelSpec
from symact.training import TrainConfig


def _spec(**changes) -> RunSpec:
    base = dict(data=DataSpec("spambase", rows=None), model=LIGHT, seed=42)
    base.update(changes)
    return RunSpec(**base)


def test_equal_specs_share_a_key_and_any_field_changes_it():
    assert _spec().key() == _spec().key()
    assert _spec().split == SplitSpec(seed=42)  # the protocol: a split per seed
    others = [
        _spec(seed=43),
        _spec(model=HEAVY),
        _spec(model=LIGHT.with_activation("mul(cos(x), x)")),
        _spec(model=LIGHT.with_activation("mul(cos(x), x)", learnable_constants=True)),
        _spec(model=ModelSpec(hidden=(64, 32), dropout=0.2)),
        _spec(model=LIGHT.with_outputs(7)),
        _spec(data=DataSpec("spambase", rows=1000)),
        _spec(data=DataSpec("spambase", rows=None, subset_seed=1)),
        _spec(data=DataSpec("spambase", labels="all")),
        _spec(data=DataSpec("my.csv", drop=("id",))),
        _spec(train=TrainConfig(epochs=14)),
        _spec(train=TrainConfig(lr=1e-2)),
        _spec(train=TrainConfig(betas=(0.8, 0.999))),
        _spec(train=TrainConfig(optimizer="adamw")),
        _spec(split=SplitSpec(seed=42, test_size=0.3)),
        _spec(split=SplitSpec(seed=7)),  # same training seed, another test part
        _spec(split=SplitSpec(seed=42, validation=0.2)),
    ]
    keys = {s.key() for s in others}
    assert len(keys) == len(others)
    assert _spec().key() not in keys


def test_spec_round_trips_through_its_dict():
    spec = _spec(
        model=LIGHT.with_activation("add(x, 0.5)", learnable_constants=True),
        train=TrainConfig(epochs=3),
        data=DataSpec("a.csv", target="y", positive="yes", drop=("id", "name")),
        split=SplitSpec(seed=1, validation=0.25),
    )
    assert RunSpec.from_dict(spec.to_dict()) == spec
    assert RunSpec.from_dict(spec.to_dict()).key() == spec.key()


def test_bad_specs_are_rejected_with_the_fix():
    with pytest.raises(ValueError, match="test_size"):
        SplitSpec(seed=1, test_size=1.5)
    with pytest.raises(ValueError, match="labels must be one of"):
        DataSpec("spambase", labels="some")
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)


def test_store_commits_each_run_and_reports_missing(tmp_path):
    path = tmp_path / "out" / "symact.sqlite"
    a, b = _spec(seed=1), _spec(seed=2)
    with ResultsStore(path) as store:
        assert store.missing_runs([a.key(), b.key()]) == [a.key(), b.key()]
        store.put_run(a.key(), a.to_dict(), {"accuracy": 0.9})
        store.put_document("suite", {"entries": [a.key()]})
    # A second connection (a new process would do the same) sees the committed row.
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
    conn.close()
    with ResultsStore(path) as store:
        assert store.get_run(a.key()) == {"accuracy": 0.9}
        assert store.get_run(b.key()) is None
        assert store.missing_runs([a.key(), b.key()]) == [b.key()]
        assert store.stored_runs([b.key(), a.key()]) == {a.key(): {"accuracy": 0.9}}
        assert store.finished_at(a.key()) is not None
        assert store.get_document("suite") == {"entries": [a.key()]}
        assert store.get_document("search") is None
