"""Conformance with gplearn itself: its random programs parse, and evaluate bit for bit alike."""

from __future__ import annotations

import numpy as np
import pytest
from gplearn._program import _Program
from gplearn.functions import _function_map, sig1

from symact.formula import parse_formula
from symact.formula.operators import GPLEARN_FUNCTIONS, OPERATORS

FUNCTION_SET = [*_function_map.values(), sig1]


def _arities() -> dict[int, list]:
    arities: dict[int, list] = {}
    for function in FUNCTION_SET:
        arities.setdefault(function.arity, []).append(function)
    return arities


def _random_programs(count: int, n_features: int, seed: int, const_range=(-1.0, 1.0)):
    rng = np.random.RandomState(seed)
    for _ in range(count):
        program = _Program(
            function_set=FUNCTION_SET,
            arities=_arities(),
            init_depth=(2, 6),
            init_method="half and half",
            n_features=n_features,
            const_range=const_range,
            metric=None,
            p_point_replace=0.05,
            parsimony_coefficient=0.01,
            random_state=rng,
        )
        # str(program) prints constants as '%.3f'; give gplearn the same constants.
        program.program = [
            float(f"{node:.3f}") if isinstance(node, float) else node for node in program.program
        ]
        yield program


def _data(n_features: int, dtype: type) -> np.ndarray:
    rng = np.random.default_rng(0)
    X = rng.normal(0.0, 1.0, (300, n_features))
    X[:30] = 0.0  # every protected branch at exactly zero
    X[30:60] = rng.uniform(-0.002, 0.002, (30, n_features))  # around gplearn's 0.001 threshold
    X[60:70] = 1e-9
    X[70:80] = -1.0
    X[80:90] = rng.normal(0.0, 100.0, (10, n_features))  # large values: overflow paths
    return X.astype(dtype)


def test_table_covers_gplearn_function_set() -> None:
    assert {f.name for f in FUNCTION_SET} == set(GPLEARN_FUNCTIONS)
    for function in FUNCTION_SET:
        assert OPERATORS[function.name].arity == function.arity


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_random_gplearn_programs_evaluate_exactly_as_gplearn(dtype: type) -> None:
    X = _data(6, dtype)
    checked = 0
    for program in _random_programs(1500, n_features=6, seed=1):
        text = str(program)
        formula = parse_formula(text)
        assert str(parse_formula(str(formula))) == str(formula)
        assert formula.size == program.length_
        assert formula.depth == program.depth_ + 1
        with np.errstate(all="ignore"):
            expected = program.execute(X)
            got = formula.to_numpy(features=True)(X)
        assert got.dtype == expected.dtype, text
        np.testing.assert_array_equal(got, expected, err_msg=text)
        checked += 1
    assert checked == 1500


def test_programs_over_features_need_no_flag_and_wide_constants() -> None:
    X = _data(4, np.float64)
    for program in _random_programs(300, n_features=4, seed=2, const_range=(-100.0, 100.0)):
        formula = parse_formula(str(program))
        with np.errstate(all="ignore"):  # programs without variables included
            np.testing.assert_array_equal(formula.to_numpy()(X), program.execute(X))


def test_gplearn_printed_text_is_canonical_up_to_constant_format() -> None:
    for program in _random_programs(200, n_features=3, seed=3):
        text = str(program)
        formula = parse_formula(text)
        # same tokens except that 0.100 prints as 0.1
        assert parse_formula(str(formula)) == formula
        assert str(formula).count("(") == text.count("(")


def test_single_node_programs_match_gplearn() -> None:
    X = _data(3, np.float64)
    for node in (0.25, 2):
        program = _Program(
            FUNCTION_SET,
            _arities(),
            (2, 6),
            "half and half",
            3,
            (-1.0, 1.0),
            None,
            0.05,
            0.01,
            np.random.RandomState(0),
            program=[node],
        )
        formula = parse_formula(str(program))
        np.testing.assert_array_equal(formula.to_numpy(features=True)(X), program.execute(X))


def test_programs_without_variables_evaluate_as_gplearn_without_a_flag() -> None:
    X = _data(3, np.float64)
    for program_list in ([_function_map["tan"], _function_map["sqrt"], -0.725], [0.25]):
        program = _Program(
            FUNCTION_SET,
            _arities(),
            (2, 6),
            "half and half",
            3,
            (-1.0, 1.0),
            None,
            0.05,
            0.01,
            np.random.RandomState(0),
            program=program_list,
        )
        formula = parse_formula(str(program))
        assert not formula.variables
        got = formula.to_numpy()(X)
        assert got.shape == program.execute(X).shape == (len(X),)
        np.testing.assert_array_equal(got, program.execute(X))


def test_feature_formula_rejects_too_few_columns() -> None:
    with pytest.raises(ValueError, match="at least 4 feature"):
        parse_formula("add(X3, X0)").to_numpy()(np.zeros((5, 2)))
