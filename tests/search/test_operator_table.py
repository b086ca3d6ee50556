"""The search's mutations are one table (name, function, weight): the draw reads it, a new
row is drawn, and the table is part of the search's identity, so a search resumed with
another table stops with one line (exit 2) instead of replaying other proposals."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from search_args import SMALL

from symact.cli import main
from symact.experiments import DataCache, ResultsStore, run_grid
from symact.experiments.specs import DataSpec
from symact.experiments.store import StoreError
from symact.formula.tree import Formula
from symact.models import ModelSpec
from symact.search.evolution import OPERATOR_TABLE_DOCUMENT, Search, SearchSettings
from symact.search.space import MUTATIONS, Mutation, SearchSpace, mutate


def _wrap(f: Formula, space: SearchSpace, rng: np.random.Generator) -> Formula:
    """A mutation the shipped table lacks: the parent times tanh of itself."""
    return Formula.call("mul", f, Formula.call("tanh", f))


WRAP = Mutation("wrap", _wrap)


def test_the_draw_follows_the_weights_of_the_table():
    space = SearchSpace(mutations=(*MUTATIONS[:2], Mutation("wrap", _wrap, 6.0)))
    rng = np.random.default_rng(7)
    drawn = Counter(space.draw_mutation(rng).name for _ in range(4000))
    assert set(drawn) == {"point", "subtree", "wrap"}
    assert drawn["wrap"] / 4000 == pytest.approx(6 / 8, abs=0.03)
    assert drawn["point"] / 4000 == pytest.approx(1 / 8, abs=0.02)


def test_equal_weights_draw_as_the_names_always_have():
    """A search started before the table keeps its proposals for its seed: with equal
    weights the draw is the one integer draw ``rng.choice(names)`` made."""
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    names = ["point", "subtree", "hoist", "jitter"]
    before = [str(a.choice(names)) for _ in range(200)]
    assert [SearchSpace().draw_mutation(b).name for _ in range(200)] == before


def test_a_table_names_its_mutations_once_with_positive_weights():
    with pytest.raises(ValueError, match="distinct names"):
        SearchSpace(mutations=(WRAP, WRAP))
    with pytest.raises(ValueError, match="weight"):
        SearchSpace(mutations=(Mutation("wrap", _wrap, 0.0),))
    with pytest.raises(ValueError, match="unknown mutation 'hoist'; this space's: wrap"):
        mutate(Formula.var("x"), SearchSpace(mutations=(WRAP,)), np.random.default_rng(0), "hoist")


def _settings(space: SearchSpace) -> SearchSettings:
    return SearchSettings(
        budget=14,
        population=6,
        tournament=2,
        batch=4,
        epochs=1,
        search_seeds=(1,),
        rerank=2,
        top=1,
        space=space,
        light=ModelSpec(hidden=(8,)),
    )


def test_a_new_row_is_drawn_by_the_search_and_another_table_is_refused(tmp_path):
    """A real search (breast cancer rows, real training) whose table is one new row: every
    mutated child comes from it. The same store then refuses a search with the shipped
    table, naming both."""
    cache = DataCache(tmp_path / "data")
    data = cache.identify(DataSpec("breast_cancer", rows=300))
    space = SearchSpace(max_size=9, crossover_rate=0.0, mutations=(WRAP,))
    with ResultsStore(tmp_path / "symact.sqlite") as store:

        def train(specs):
            run_grid(specs, store, cache, device="cpu")

        state = Search(data, _settings(space), store, cache, train).run()
        origins = Counter(c.origin for c in state.candidates)
        assert origins["wrap"] > 0, origins
        assert set(origins) <= {"known", "random", "wrap"}, origins
        assert store.get_document(OPERATOR_TABLE_DOCUMENT) == space.operator_table()
        assert _settings(space).identity()["mutations"] == [["wrap", 1.0]]
        with pytest.raises(StoreError) as refused:
            Search(data, _settings(SearchSpace(max_size=9)), store, cache, train).run()
    (line,) = str(refused.value).splitlines()
    assert "(wrap 1; crossover 0)" in line
    assert "(point 1, subtree 1, hoist 1, jitter 1; crossover 0.2)" in line
    assert "use a new --out" in line


def test_a_resumed_search_with_another_table_says_so_in_one_line(tmp_path, capsys):
    """The store in --out was started by a search with another table (as another version
    of symact would have): ``symact search`` stops with one line and exit status 2."""
    out = tmp_path / "out"
    out.mkdir()
    other = SearchSpace(mutations=(*MUTATIONS, WRAP)).operator_table()
    with ResultsStore(out / "symact.sqlite") as store:
        store.put_document(OPERATOR_TABLE_DOCUMENT, other)
    argv = ["search", "--dataset", "breast_cancer", "--out", str(out), *SMALL,
            "--no-specialist-baseline", "--data-dir", str(tmp_path / "data")]  # fmt: skip
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: {out / 'symact.sqlite'}: the search stored there made")
    assert "wrap 1" in line and "use a new --out" in line
    with ResultsStore(out / "symact.sqlite") as store:
        assert store.count() == 0  # nothing trained
