"""The paper's Phase 1: genetic programming on a 10% sample, best program as an activation.

gplearn evolves a classifier over the standardized features; its best program (for example
``mul(cos(X3), X3)``) becomes an activation once every feature is replaced by one input ``x``.
The program string is parsed by :mod:`symact.formula`, never executed.

gplearn draws every program's seed up front, so the evolved program is the same for any
``n_jobs``; symact defaults to ``n_jobs=1`` because on small samples worker start-up costs
more than it saves (the paper's ``n_jobs=-1`` gives the identical program).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from symact.data import Dataset
from symact.data.errors import DataError
from symact.data.missing import impute
from symact.errors import SettingError
from symact.formula import Formula, parse_formula

PAPER_FUNCTION_SET: tuple[str, ...] = ("add", "sub", "mul", "sin", "cos", "abs")


@dataclass(frozen=True)
class GplearnSettings:
    """Everything that decides which program gplearn returns (the paper's values by default).

    ``n_jobs`` is deliberately absent from :meth:`identity`: it changes speed, not the result.
    """

    subsample: float = 0.1
    seed: int = 42
    generations: int = 5
    population_size: int = 500
    function_set: tuple[str, ...] = PAPER_FUNCTION_SET
    tournament_size: int = 20
    parsimony_coefficient: float = 0.001
    init_depth: tuple[int, int] = (2, 6)
    const_range: tuple[float, float] | None = (-1.0, 1.0)
    n_jobs: int = 1

    def __post_init__(self) -> None:
        if not 0.0 < self.subsample <= 1.0:
            raise SettingError(f"subsample must be in (0, 1], got {self.subsample}")
        if self.generations < 1 or self.population_size < 2:
            raise SettingError(
                "generations must be >= 1 and population_size >= 2, got "
                f"{self.generations} and {self.population_size}"
            )

    def identity(self) -> dict[str, Any]:
        """The settings that define the result, as plain JSON-able values."""
        d = asdict(self)
        d.pop("n_jobs")
        d["function_set"] = list(self.function_set)
        d["init_depth"] = list(self.init_depth)
        d["const_range"] = None if self.const_range is None else list(self.const_range)
        return d


@dataclass(frozen=True)
class Discovery:
    """One discovered formula and how it was found."""

    dataset: str
    program: Formula
    activation: Formula
    fitness: float
    settings: GplearnSettings
    n_samples: int
    seconds: float
    method: str = "gplearn"  # the engine: "gplearn" or "operon"
    extras: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record: the formula raw, univariate, simplified and in LaTeX.

        Operon's formulas carry a fitted constant in every term, on which sympy's simplify
        runs for many minutes: they are recorded as found (``simplified`` is the activation).
        """
        simplified = self.activation.simplify() if self.method == "gplearn" else self.activation
        engine = {} if self.method == "gplearn" else {"method": self.method}
        return engine | {
            "dataset": self.dataset,
            "program": str(self.program),
            "activation": str(self.activation),
            "simplified": str(simplified),
            "latex": simplified.to_latex(),
            "fitness": self.fitness,
            "settings": self.settings.identity(),
            "n_samples": self.n_samples,
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Discovery:
        s = dict(d["settings"])
        s["function_set"] = tuple(s["function_set"])
        s["init_depth"] = tuple(s["init_depth"])
        if s.get("const_range") is not None:
            s["const_range"] = tuple(s["const_range"])
        return cls(
            dataset=d["dataset"],
            program=parse_formula(d["program"]),
            activation=parse_formula(d["activation"]),
            fitness=float(d["fitness"]),
            settings=GplearnSettings(**s),
            n_samples=int(d["n_samples"]),
            seconds=float(d["seconds"]),
            method=d.get("method", "gplearn"),
        )


def discovery_sample(
    X: np.ndarray,
    y: np.ndarray,
    settings: GplearnSettings,
    onehot_blocks: Sequence[Sequence[int]] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """The paper's sample: ``subsample`` of the rows without replacement, seeded, standardized.

    Missing cells (NaN) are filled from the sample's own rows, as a split fills them from
    its training rows (``onehot_blocks``: see ``Dataset.onehot_blocks``): gplearn refuses
    NaN, and the sample is all it may look at."""
    n = len(X)
    if len(y) != n:
        raise DataError(f"X has {n} rows but y has {len(y)} labels; pass one label per row")
    k = max(2, int(n * settings.subsample))
    idx = np.random.RandomState(settings.seed).choice(n, k, replace=False)
    from sklearn.preprocessing import StandardScaler  # here: option checks run without sklearn

    (sample,) = impute(np.asarray(X[idx], dtype=np.float64), onehot_blocks=onehot_blocks)
    Xs = StandardScaler().fit_transform(sample)
    ys = np.asarray(y[idx])
    if len(np.unique(ys)) < 2:
        raise DataError(
            f"the {settings.subsample:.0%} discovery sample ({k} rows) holds only one class; "
            "use a larger dataset or a larger subsample"
        )
    return Xs, ys


def discover_gplearn(
    X: np.ndarray | Dataset,
    y: np.ndarray | None = None,
    *,
    dataset: str | None = None,
    settings: GplearnSettings | None = None,
    onehot_blocks: Sequence[Sequence[int]] = (),
) -> Discovery:
    """Run gplearn's SymbolicClassifier as the paper does and return its best program.

    Takes a :class:`~symact.data.Dataset` (``discover_gplearn(ds)``) or arrays
    (``discover_gplearn(X, y, dataset="name")``, with the dataset's ``onehot_blocks`` where
    X has missing cells).
    """
    from gplearn.genetic import SymbolicClassifier

    if isinstance(X, Dataset):
        dataset = dataset or X.display_name
        onehot_blocks = onehot_blocks or X.onehot_blocks
        X, y = X.X, X.y
    elif y is None:
        raise TypeError("discover_gplearn takes a Dataset, or X and y arrays")
    settings = settings or GplearnSettings()
    Xs, ys = discovery_sample(X, y, settings, onehot_blocks)
    gp = SymbolicClassifier(
        generations=settings.generations,
        population_size=settings.population_size,
        function_set=list(settings.function_set),
        tournament_size=settings.tournament_size,
        parsimony_coefficient=settings.parsimony_coefficient,
        init_depth=settings.init_depth,
        const_range=settings.const_range,
        random_state=settings.seed,
        n_jobs=settings.n_jobs,
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)
        gp.fit(Xs, ys)
    seconds = time.perf_counter() - start
    program = parse_formula(str(gp._program))
    return Discovery(
        dataset=dataset or "data",
        program=program,
        activation=program.univariate(),
        fitness=float(gp._program.raw_fitness_),
        settings=settings,
        n_samples=len(Xs),
        seconds=seconds,
    )
