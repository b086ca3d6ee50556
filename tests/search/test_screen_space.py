"""The search space and the screen: children stay in bounds, equal formulas merge by their
values, degenerate ones are rejected before any training."""

from __future__ import annotations

import numpy as np
import pytest

from symact.formula import FormulaError, parse_formula
from symact.search.screen import screen
from symact.search.space import SearchSpace, crossover, mutate, random_tree


def test_functionally_equal_formulas_share_a_fingerprint():
    groups = [
        ["mul(x, x)", "x*x", "mul(x, mul(x, 1.0))"],
        ["relu(x)", "max(x, 0.0)", "max(0.0, x)"],
        ["mul(x, sig(x))", "silu(x)"],
        ["add(x, sin(x))", "add(sin(x), x)"],
    ]
    prints = [{screen(parse_formula(t)).fingerprint for t in group} for group in groups]
    for group, found in zip(groups, prints, strict=True):
        assert len(found) == 1 and None not in found, group
    assert len(set.union(*prints)) == len(groups)  # and different groups differ


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0.5", "constant"),
        ("sin(0.3)", "constant"),
        ("add(x, 0.5)", "linear"),
        ("mul(-2.0, x)", "linear"),
        ("sub(relu(x), relu(neg(x)))", "linear"),  # relu(x) - relu(-x) = x
        ("exp(mul(x, 50.0))", "exploding"),
        ("mul(exp(mul(x, 100.0)), exp(mul(x, 100.0)))", "exploding"),  # inf in float32
    ],
)
def test_degenerate_candidates_are_rejected_with_the_reason(text, reason):
    found = screen(parse_formula(text))
    assert found.fingerprint is None and found.reason.startswith(reason)


def test_children_stay_in_the_space_and_draws_are_seeded():
    space = SearchSpace(max_size=9, max_depth=4)
    a = [random_tree(space, np.random.default_rng(3)) for _ in range(2)]
    assert a[0] == a[1]  # the same generator state draws the same tree
    rng = np.random.default_rng(0)
    parent = parse_formula("add(mul(x, tanh(x)), 0.5)")
    made = set()
    for op in ("point", "subtree", "hoist", "jitter"):
        for _ in range(20):
            child = mutate(parent, space, rng, op)
            if child is not None:
                assert child.size <= 9 and child.depth <= 4 and "x" in child.variables
                assert all(
                    n.op in space.operators or n.op in ("var", "const") for n in child.nodes()
                )
                made.add(str(child))
    assert len(made) > 20  # the mutations explore
    mixed = crossover(parent, parse_formula("silu(sin(x))"), np.random.default_rng(1))
    assert mixed != parent
    with pytest.raises(FormulaError, match="unknown operator 'hardswish'"):
        SearchSpace(operators=("add", "hardswish"))
