"""A second discovery engine: Operon (pyoperon) under the paper's protocol.

Operon is a C++ genetic-programming regressor with local optimisation of every program's
constants (Levenberg-Marquardt here), so a formula's numbers are fitted rather than drawn
from ``const_range`` as gplearn's are. Everything else follows :mod:`symact.discovery.gplearn`:
the same seeded ``subsample`` of standardized rows (:func:`discovery_sample`), the same
seed as Operon's ``random_state``, the same generations, population and tournament size,
``init_depth``'s upper bound as Operon's initial depth, and the function set mapped to
Operon's symbols (:data:`OPERON_SYMBOLS`; a gplearn function without an equal Operon symbol
is refused, never approximated). The model is printed with its features named ``X0..Xn``,
as gplearn names them, and parsed by :mod:`symact.formula`; nothing Operon returns is
executed.

Where the paper uses gplearn's ``SymbolicClassifier`` (a program's output through a sigmoid,
fitness the log loss), Operon offers no classification objective (its objectives are
regression ones: R², MSE, MDL, Poisson, Gaussian likelihood). Discovery therefore regresses
the 0/1 labels with Operon's default objective, R² with linear scaling: a linear
probability model whose ranking of rows is what the classifier's sigmoid would rank. The
scale and intercept Operon adds to the program stay in the formula, so the formula is
exactly the model Operon predicts with; as an activation they are an affine map the next
layer's weights and bias absorb. ``fitness`` is that R² on the sample (gplearn's is a log
loss: the two are not comparable). ``parsimony_coefficient`` and ``const_range`` have no
Operon counterpart: Operon bounds size by :data:`OPERON_FIXED`'s ``max_length`` and fits
its constants. One thread, so the program is a function of the seed alone.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from symact.data import Dataset
from symact.discovery.gplearn import Discovery, GplearnSettings, discovery_sample
from symact.errors import SettingError
from symact.formula import parse_formula

#: gplearn function -> the Operon symbol computing the same function (``div`` and the
#: protected ``sqrt``/``log`` differ near zero, so they have none).
OPERON_SYMBOLS: dict[str, str] = {
    "add": "add",
    "sub": "sub",
    "mul": "mul",
    "sin": "sin",
    "cos": "cos",
    "tan": "tan",
    "abs": "abs",
}

#: Operon's settings that gplearn's protocol does not name; part of the engine, so changing
#: one is a new protocol version of the ``operon`` method.
OPERON_FIXED: dict[str, object] = {
    "objectives": ["r2"],
    "optimizer": "lm",
    "optimizer_iterations": 10,
    "max_length": 30,
    "max_depth": 10,
    "n_threads": 1,
}


def operon_symbols(function_set: Sequence[str]) -> str:
    """Operon's ``allowed_symbols`` for a gplearn function set (plus constants and
    variables); a function without an equal Operon symbol is a :class:`SettingError`."""
    missing = [f for f in function_set if f not in OPERON_SYMBOLS]
    if missing:
        raise SettingError(
            f"function {missing[0]!r} has no equal Operon symbol; with --engine operon "
            f"choose --function-set from {','.join(OPERON_SYMBOLS)}"
        )
    return ",".join([OPERON_SYMBOLS[f] for f in function_set] + ["constant", "variable"])


def require_operon() -> None:
    """Refuse the engine in one line when pyoperon is not installed."""
    try:
        import pyoperon  # noqa: F401
    except ImportError:
        raise SettingError("--engine operon needs pyoperon: pip install 'symact[operon]'") from None


def operon_regressor(settings: GplearnSettings):
    """Operon's estimator configured by the protocol's settings (see the module docstring)."""
    require_operon()
    from pyoperon.sklearn import SymbolicRegressor

    return SymbolicRegressor(
        allowed_symbols=operon_symbols(settings.function_set),
        generations=settings.generations,
        population_size=settings.population_size,
        tournament_size=settings.tournament_size,
        initialization_max_depth=settings.init_depth[1],
        random_state=settings.seed,
        **OPERON_FIXED,
    )


def discover_operon(
    X: np.ndarray | Dataset,
    y: np.ndarray | None = None,
    *,
    dataset: str | None = None,
    settings: GplearnSettings | None = None,
    onehot_blocks: Sequence[Sequence[int]] = (),
) -> Discovery:
    """Run Operon on the paper's sample and return its model as a :class:`Discovery`.

    Takes what :func:`~symact.discovery.discover_gplearn` takes."""
    if isinstance(X, Dataset):
        dataset = dataset or X.display_name
        onehot_blocks = onehot_blocks or X.onehot_blocks
        X, y = X.X, X.y
    elif y is None:
        raise TypeError("discover_operon takes a Dataset, or X and y arrays")
    settings = settings or GplearnSettings()
    operon_symbols(settings.function_set)  # refuse before the sample is drawn
    Xs, ys = discovery_sample(X, y, settings, onehot_blocks)
    model = operon_regressor(settings)
    start = time.perf_counter()
    model.fit(Xs, ys.astype(np.float64))
    seconds = time.perf_counter() - start
    text = model.get_model_string(model.model_, 17, [f"X{i}" for i in range(Xs.shape[1])])
    program = parse_formula(text)
    return Discovery(
        dataset=dataset or "data",
        program=program,
        activation=program.univariate(),
        fitness=float(model.score(Xs, ys)),
        settings=settings,
        n_samples=len(Xs),
        seconds=seconds,
        method="operon",
    )
