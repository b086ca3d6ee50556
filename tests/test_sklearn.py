"""The scikit-learn estimator: sklearn's own estimator checks, and the three places a
tabular researcher uses it (Pipeline, cross_val_score, GridSearchCV) on real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils.estimator_checks import parametrize_with_checks

from symact.sklearn import SymbolicMLPClassifier

DATA = Path(__file__).parent / "fixtures" / "data"

#: Checks the estimator cannot pass, each with its reason (sklearn's expected_failed_checks).
EXPECTED_FAILED: dict[str, str] = {}


def _spambase(rows: int = 1500) -> tuple[np.ndarray, np.ndarray]:
    table = pd.read_csv(DATA / "spambase_4000.data.gz", header=None).to_numpy()
    table = table[np.random.default_rng(0).permutation(len(table))[:rows]]  # file: spam first
    return table[:, :-1], table[:, -1].astype(int)


@parametrize_with_checks(
    [SymbolicMLPClassifier(hidden=(16,), epochs=20, lr=1e-2, random_state=0)],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_binary_formula_with_learnable_constants_learns_spambase():
    X, y = _spambase()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0)
    clf = SymbolicMLPClassifier(
        "x*sig(1.5*x)",
        hidden=(32, 16),
        learnable_constants=True,
        epochs=10,
        batch_size=64,
        lr=3e-3,
        random_state=1,
    ).fit(Xtr, ytr)
    assert roc_auc_score(yte, clf.predict_proba(Xte)[:, 1]) > 0.9
    assert clf.n_features_in_ == X.shape[1]
    assert len(clf.learned_formulas_) == 2
    assert all("mul(1.5, x)" not in f for f in clf.learned_formulas_)  # the constants moved
    np.testing.assert_allclose(clf.decision_function(Xte) > 0, clf.predict(Xte) == 1)


def test_multiclass_covertype_and_feature_names():
    frame = pd.read_csv(DATA / "covtype_3000.csv.gz", header=None)
    X = frame.iloc[:, :10].set_axis([f"f{i}" for i in range(10)], axis=1)
    y = frame.iloc[:, -1].map(lambda v: f"type {v}")
    clf = SymbolicMLPClassifier("gelu", epochs=5, lr=1e-2, random_state=0).fit(X, y)
    assert list(clf.classes_) == sorted(y.unique())
    assert list(clf.feature_names_in_) == list(X.columns)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 7)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert clf.score(X, y) > 0.6  # the majority class is 49%


def test_pipeline_on_penguins_text_and_missing_cells():
    frame = pd.read_csv(DATA / "penguins.csv")
    frame = frame[frame["species"].notna()]
    X, y = frame.drop(columns=["species"]), frame["species"]
    numeric = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"]
    prep = ColumnTransformer(
        [
            ("num", SimpleImputer(strategy="median"), numeric),
            (
                "txt",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
                ),
                ["island", "sex"],
            ),
        ]
    )
    pipe = Pipeline(
        [
            ("prep", prep),
            (
                "mlp",
                SymbolicMLPClassifier(
                    "x*tanh(x)", hidden=(32,), epochs=30, lr=1e-2, random_state=0
                ),
            ),
        ]
    )
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0)
    assert pipe.fit(Xtr, ytr).score(Xte, yte) > 0.9


def test_cross_val_score_on_spambase():
    X, y = _spambase()
    clf = SymbolicMLPClassifier(hidden=(32, 16), epochs=8, lr=3e-3, random_state=0)
    scores = cross_val_score(clf, X, y, cv=3, scoring="roc_auc")
    assert scores.shape == (3,) and scores.min() > 0.9


def test_grid_search_over_activations_on_higgs():
    frame = pd.read_csv(DATA / "higgs_first3000.csv.gz", header=None)
    X, y = frame.iloc[:1500, 1:].to_numpy(), frame.iloc[:1500, 0].astype(int).to_numpy()
    grid = GridSearchCV(
        SymbolicMLPClassifier(hidden=(32,), epochs=5, batch_size=64, lr=3e-3, random_state=0),
        {"activation": ["relu", "x*cos(x)"], "hidden": [(16,), (32,)]},
        cv=2,
        scoring="roc_auc",
    ).fit(X, y)
    assert len(grid.cv_results_["params"]) == 4
    assert grid.best_params_["activation"] in {"relu", "x*cos(x)"}
    assert 0.6 < grid.best_score_ < 1.0
    assert grid.best_estimator_.predict(X[:5]).shape == (5,)


def test_same_seed_same_model_other_seed_other_model():
    X, y = _spambase(400)
    a = SymbolicMLPClassifier(hidden=(8,), epochs=2, random_state=3).fit(X, y)
    b = SymbolicMLPClassifier(hidden=(8,), epochs=2, random_state=3).fit(X, y)
    c = SymbolicMLPClassifier(hidden=(8,), epochs=2, random_state=4).fit(X, y)
    np.testing.assert_array_equal(a.decision_function(X), b.decision_function(X))
    assert not np.array_equal(a.decision_function(X), c.decision_function(X))


def test_bad_activation_is_refused_with_its_text():
    X, y = _spambase(100)
    with pytest.raises(ValueError, match="x\\*\\*"):
        SymbolicMLPClassifier("x**").fit(X, y)
