"""Discovery follows PROTOCOL.md Phase 1 exactly, on the real spambase file."""

from __future__ import annotations

import numpy as np
import pytest
from gplearn.genetic import SymbolicClassifier
from sklearn.preprocessing import StandardScaler

from symact.discovery import Discovery, GplearnSettings, discover_gplearn
from symact.formula import parse_formula


@pytest.fixture(scope="module")
def spambase(shared_data):
    raw = np.loadtxt(shared_data / "spambase.data", delimiter=",")
    return raw[:, :-1].astype(np.float32), raw[:, -1].astype(np.int64)


def test_matches_the_reference_procedure_written_out_by_hand(spambase):
    X, y = spambase
    # The reference: seed numpy's global RNG with 42, draw 10% without replacement,
    # standardize the sample, fit gplearn with the paper's settings.
    np.random.seed(42)
    idx = np.random.choice(len(X), int(len(X) * 0.1), replace=False)
    Xs = StandardScaler().fit_transform(X[idx].astype(np.float64))
    gp = SymbolicClassifier(
        generations=5,
        population_size=500,
        function_set=["add", "sub", "mul", "sin", "cos", "abs"],
        random_state=42,
        n_jobs=1,
    ).fit(Xs, y[idx])

    found = discover_gplearn(X, y, dataset="SPAMBASE")
    assert found.program == parse_formula(str(gp._program))
    np.testing.assert_array_equal(found.program.to_numpy()(Xs), gp._program.execute(Xs))
    assert found.fitness == pytest.approx(gp._program.raw_fitness_)
    assert found.n_samples == len(idx)
    assert set(found.activation.variables) <= {"x"}


def test_n_jobs_changes_speed_not_the_program(spambase):
    X, y = spambase
    small = dict(generations=2, population_size=80)
    one = discover_gplearn(X, y, settings=GplearnSettings(n_jobs=1, **small))
    two = discover_gplearn(X, y, settings=GplearnSettings(n_jobs=2, **small))
    assert one.program == two.program
    assert GplearnSettings(n_jobs=1).identity() == GplearnSettings(n_jobs=-1).identity()


def test_record_round_trips_and_carries_every_form_of_the_formula(spambase):
    X, y = spambase
    found = discover_gplearn(X, y, settings=GplearnSettings(generations=2, population_size=60))
    d = found.to_dict()
    assert set(d) >= {"program", "activation", "simplified", "latex", "fitness", "settings"}
    back = Discovery.from_dict(d)
    assert back.program == found.program and back.activation == found.activation
    assert back.settings == found.settings


def test_a_one_class_sample_is_a_clear_error():
    X = np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32)
    y = np.zeros(200, dtype=np.int64)
    with pytest.raises(ValueError, match="only one class"):
        discover_gplearn(X, y)


def test_rows_and_labels_of_different_lengths_are_a_clear_error(spambase):
    X, y = spambase
    with pytest.raises(ValueError, match="rows but y has"):
        discover_gplearn(X, y[:-5], dataset="spambase")


def test_takes_a_dataset_from_the_loader(canonical_data_dir):
    from symact.data import load_dataset

    ds = load_dataset("spambase", data_dir=canonical_data_dir)
    settings = GplearnSettings(generations=1, population_size=30)
    found = discover_gplearn(ds, settings=settings)
    assert found.dataset == "SPAMBASE"
    assert found.program == discover_gplearn(ds.X, ds.y, settings=settings).program
