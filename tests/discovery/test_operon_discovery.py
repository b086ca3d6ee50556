"""Operon as a second engine: the paper's sample and seed, its model parsed into a Formula
that computes what Operon predicts, on the real spambase slice."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from symact.discovery import Discovery, GplearnSettings, discover_with, discovery_sample
from symact.discovery.operon import operon_regressor, operon_symbols
from symact.errors import SettingError

pytest.importorskip("pyoperon", reason="the operon extra: pip install 'symact[operon]'")

SMALL = GplearnSettings(generations=3, population_size=100, subsample=0.2)


@pytest.fixture(scope="module")
def spambase(shared_data):
    raw = np.loadtxt(shared_data / "spambase.data", delimiter=",")
    return raw[:, :-1].astype(np.float32), raw[:, -1].astype(np.int64)


@pytest.fixture(scope="module")
def found(spambase):
    X, y = spambase
    return discover_with("operon", X, y, dataset="SPAMBASE", settings=SMALL)


def test_formula_evaluates_to_operons_own_prediction_on_the_sample(spambase, found):
    X, y = spambase
    Xs, ys = discovery_sample(X, y, SMALL)
    model = operon_regressor(SMALL).fit(Xs, ys.astype(np.float64))
    ours = found.program.to_numpy()(Xs)
    theirs = model.predict(Xs)
    assert found.method == "operon" and found.n_samples == len(Xs)
    assert found.program.size > 1 and found.program.variables  # a real model, not a constant
    # Operon evaluates in float32; the parsed formula in float64
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
    assert found.fitness == pytest.approx(model.score(Xs, ys), rel=1e-6)
    assert set(found.activation.variables) <= {"x"}


def test_same_seed_same_formula_other_seed_other(spambase, found):
    X, y = spambase
    again = discover_with("operon", X, y, dataset="SPAMBASE", settings=SMALL)
    assert again.program == found.program
    other = discover_with("operon", X, y, dataset="SPAMBASE", settings=replace(SMALL, seed=7))
    assert other.program != found.program


def test_record_round_trips_with_its_engine(found):
    d = found.to_dict()
    assert d["method"] == "operon"
    assert d["simplified"] == d["activation"]  # sympy is not run on fitted constants
    back = Discovery.from_dict(d)
    assert back.method == "operon" and back.program == found.program


def test_function_without_an_equal_operon_symbol_is_refused(spambase):
    assert operon_symbols(("add", "sin")) == "add,sin,constant,variable"
    X, y = spambase
    with pytest.raises(SettingError, match="'div' has no equal Operon symbol"):
        discover_with("operon", X, y, settings=GplearnSettings(function_set=("add", "div")))
    with pytest.raises(SettingError, match="engine must be one of"):
        discover_with("pysr", X, y)


def test_search_specialist_with_operon_is_stored_under_its_engine(canonical_data_dir, tmp_path):
    from symact.experiments.datacache import DataCache, training_part
    from symact.experiments.specs import DataSpec, DiscoverySpec
    from symact.experiments.store import ResultsStore
    from symact.search.evolution import SearchSettings
    from symact.search.runner import specialist_on_training_part

    cache = DataCache(canonical_data_dir)
    data = cache.identify(DataSpec("spambase"))
    settings = SearchSettings()
    with ResultsStore(tmp_path / "symact.sqlite") as store:
        found = specialist_on_training_part(data, settings, SMALL, cache, store, "operon")
        key = DiscoverySpec(data, SMALL, method="operon", part=settings.test_split()).key()
        assert store.get_discovery(key)["method"] == "operon"
        assert key != DiscoverySpec(data, SMALL, part=settings.test_split()).key()
        again = specialist_on_training_part(data, settings, SMALL, cache, store, "operon")
    assert again.program == found.program and found.method == "operon"
    # discovered on the training part only: the sample is drawn from those rows
    X, _ = training_part(cache.dataset(data), settings.test_split())
    assert found.n_samples == int(len(X) * SMALL.subsample)
