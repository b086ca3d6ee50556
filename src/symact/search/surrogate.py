"""A surrogate pre-screen: predict a proposal's search fitness without training it.

AQuaSurF (Bingham & Miikkulainen, NeurIPS 2023) showed that what an activation does on
N(0, 1) inputs, computed without any training, predicts the accuracy of a network using it
well enough to train only the promising candidates. Here a proposal's *features* are its
values on the fixed N(0, 1) sample the screen already evaluates (``screen.Screen.values``),
standardized to zero mean and unit spread (its *shape*: BatchNorm and the next layer absorb
scale and shift), and six numbers the shape leaves out (the log of its spread, its mean over
its spread, the log of its mean absolute slope, its mean slope over its spread, the share of
falling slopes and of negative values; slopes by central differences). A k-nearest-neighbour
regression on the candidates already trained (features standardized per column, each block
weighted by one over the root of its width so that six numbers weigh as much as a thousand
values) predicts the fitness of each new proposal. After ``warmup`` trained candidates, a
proposal predicted below the ``quantile`` of the current population's fitness is *screened*:
recorded with its prediction, never trained, and not counted toward the budget (which counts
trained candidates). The population's quantile is the bar because a child is useful to aging
evolution only if it can win tournaments against that population.

Measured offline on two real covertype searches (400 and 1,000 candidates, batches of 32
predicted from all before them): the shape alone ranks candidates at Spearman 0.75-0.83, the
shape with the six numbers at 0.95 (0.92 among the better half); a block of slopes beside
them adds nothing (0.95, 0.90), so it is left out. With the defaults (k = 7, distance
weights, median of the population) about 43 % of the children are screened, and 2-4 of the
best 10 % of candidates would have been.

Every step is deterministic (no random draw at all: the sample is the screen's seeded one,
the regression is exact), so a resumed search, which finds the same fitness values in the
store, screens the same proposals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from symact.errors import SettingError
from symact.experiments.store import ResultsStore, StoreError
from symact.formula.tree import Formula
from symact.report.statistics import rank_correlation
from symact.search.screen import FINGERPRINT_POINTS

if TYPE_CHECKING:
    from symact.search.evolution import Candidate

#: The surrogates ``--surrogate`` offers: ``off`` trains every new proposal (the search as it
#: was before the pre-screen), ``knn`` is the k-nearest-neighbour pre-screen.
MODELS = ("off", "knn")
#: Step of the central differences that give a formula's slopes.
STEP = 1e-3
#: Shapes are clipped to this many spreads: a spike on one input must not outweigh the rest.
CLIP = 50.0


@dataclass(frozen=True)
class SurrogateSettings:
    """How the pre-screen decides (see the module docstring); ``model="off"`` trains every
    new proposal, as the search did before the pre-screen existed."""

    model: str = "off"
    warmup: int = 64  # trained candidates before any proposal is screened: the first generation
    neighbours: int = 7
    quantile: float = 0.5

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise SettingError(f"surrogate must be one of {', '.join(MODELS)}, got {self.model!r}")
        if self.warmup < 1 or self.neighbours < 1:
            raise SettingError("the surrogate's warmup and neighbours must be >= 1")
        if not 0.0 <= self.quantile < 1.0:
            raise SettingError(f"the surrogate's quantile must be in [0, 1), got {self.quantile}")

    @property
    def enabled(self) -> bool:
        return self.model != "off"

    def identity(self) -> dict[str, Any]:
        """What decides the screening (``{"model": "off"}`` when there is none)."""
        if not self.enabled:
            return {"model": "off"}
        return {
            "model": self.model,
            "warmup": self.warmup,
            "neighbours": self.neighbours,
            "quantile": self.quantile,
        }


# ------------------------------------------------------------------------------ features


def _values(formula: Formula, x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        y = np.asarray(formula.to_numpy(features=False)(x), dtype=np.float64)
    return np.broadcast_to(y, x.shape)


def features(formula: Formula, values: np.ndarray | None = None) -> np.ndarray:
    """The formula's features: its shape on :data:`FINGERPRINT_POINTS`, then the six
    numbers of the module docstring. ``values``: the formula's values there, where the
    screen has computed them already. Only for formulas the screen let through (finite,
    not constant)."""
    x = FINGERPRINT_POINTS
    y = _values(formula, x) if values is None else np.asarray(values, dtype=np.float64)
    slope = (_values(formula, x + STEP) - _values(formula, x - STEP)) / (2 * STEP)
    slope = np.where(np.isfinite(slope), slope, 0.0)
    spread = float(np.std(y)) or 1.0
    shape = np.clip((y - np.mean(y)) / spread, -CLIP, CLIP)
    numbers = [
        math.log(spread),
        float(np.mean(y)) / spread,
        math.log(float(np.mean(np.abs(slope))) + 1e-9),
        float(np.clip(np.mean(slope) / spread, -1e3, 1e3)),
        float(np.mean(slope < 0)),
        float(np.mean(y < 0)),
    ]
    return np.concatenate([shape, numbers])


#: Width of the shape block (the rest are the six numbers).
SHAPE_WIDTH = len(FINGERPRINT_POINTS)


def block_weights(width: int) -> np.ndarray:
    """Per-column weights after standardization: each block's columns by one over the root
    of its width, so that the shape and the six numbers weigh alike in a distance."""
    w = np.empty(width)
    w[:SHAPE_WIDTH] = 1.0 / math.sqrt(SHAPE_WIDTH)
    w[SHAPE_WIDTH:] = 1.0 / math.sqrt(width - SHAPE_WIDTH)
    return w


# ------------------------------------------------------------------------------ the model


@dataclass(frozen=True)
class Prediction:
    """A proposal's predicted fitness, the bar it had to clear, and whether it is screened."""

    predicted: float
    bar: float
    screened: bool


def knn_predict(X: np.ndarray, y: np.ndarray, x: np.ndarray, k: int) -> float:
    """k-nearest-neighbour regression of one point, weighted by inverse distance (where some
    neighbours are at distance zero, their mean): scikit-learn's ``KNeighborsRegressor(k,
    weights="distance")``, ties broken by training order. Written out because scikit-learn's
    predict costs ~60 ms a call in its thread-pool bookkeeping, and a search judges every
    proposal alone; this costs well under a millisecond."""
    diff = X - x
    d = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    near = np.argsort(d, kind="stable")[: min(k, len(d))]
    dist, values = d[near], y[near]
    if np.any(dist == 0.0):
        return float(np.mean(values[dist == 0.0]))
    w = 1.0 / dist
    return float(np.sum(w * values) / np.sum(w))


class Surrogate:
    """The k-NN pre-screen of a search, fitted online on the candidates it has trained.

    It keeps every candidate's features by index; :meth:`judge` refits (when more candidates
    were scored since the last fit) and predicts. It holds no random state.
    """

    def __init__(self, settings: SurrogateSettings) -> None:
        self.settings = settings
        self.features: dict[int, np.ndarray] = {}
        self._fitted_on: tuple[int, ...] = ()
        self._X = np.empty((0, 0))
        self._y = np.empty(0)
        self._scale: tuple[np.ndarray, np.ndarray] | None = None

    def remember(self, index: int, formula: Formula, values: np.ndarray | None) -> None:
        self.features[index] = features(formula, values)

    def _fit(self, scored: Sequence[Candidate]) -> None:
        X = np.array([self.features[c.index] for c in scored])
        mean, sd = X.mean(axis=0), X.std(axis=0)
        sd = np.where(sd > 1e-12, sd, 1.0) / block_weights(X.shape[1])
        self._scale = (mean, sd)
        self._X, self._y = (X - mean) / sd, np.array([c.fitness for c in scored])
        self._fitted_on = tuple(c.index for c in scored)

    def judge(
        self, index: int, candidates: Sequence[Candidate], population: Sequence[Candidate]
    ) -> Prediction | None:
        """The prediction for candidate ``index`` (remembered before), fitted on the trained
        ones among ``candidates`` (a trained candidate has a finite fitness); None before
        ``warmup`` of them."""
        scored = [c for c in candidates if c.status == "trained" and c.index in self.features]
        if len(scored) < self.settings.warmup:
            return None
        if len(scored) != len(self._fitted_on) or scored[-1].index != self._fitted_on[-1]:
            self._fit(scored)  # once per generation: trained candidates only ever grow
        mean, sd = self._scale  # type: ignore[misc]
        x = (self.features[index] - mean) / sd
        predicted = knn_predict(self._X, self._y, x, self.settings.neighbours)
        fits = [c.fitness for c in population if not math.isnan(c.fitness)]
        bar = float(np.quantile(fits, self.settings.quantile)) if fits else -math.inf
        return Prediction(predicted, bar, predicted < bar)


# ------------------------------------------------------------------------------ records


#: The store's record of how the search in it screens proposals.
SURROGATE_DOCUMENT = "search_surrogate"


def check_surrogate(store: ResultsStore, settings: SurrogateSettings, started: bool) -> None:
    """Record the surrogate settings of the first search in ``store``; a later one (a
    resumed search) must have the same, or it would screen other proposals while its stored
    runs say otherwise: a :class:`StoreError` naming both. ``started``: the store holds a
    search from before the pre-screen existed (it screened nothing: ``off``)."""
    mine = settings.identity()
    before = SurrogateSettings("off").identity() if started else None
    stored = store.pin_document(SURROGATE_DOCUMENT, mine, before)
    if stored is not None:
        raise StoreError(
            f"{store.path}: the search stored there screened its proposals with "
            f"{_settings_text(stored)}, this one with {_settings_text(mine)}; resumed, it "
            "would train other candidates: use a new --out, or the surrogate settings it "
            "was started with"
        )


def _settings_text(identity: dict[str, Any]) -> str:
    if identity.get("model") == "off":
        return "--surrogate off"
    return (
        f"--surrogate {identity['model']} (warmup {identity['warmup']}, "
        f"{identity['neighbours']} neighbours, quantile {identity['quantile']:g})"
    )


def surrogate_summary(candidates: Sequence[Candidate]) -> dict[str, Any]:
    """How the pre-screen did: proposals screened and let through after its warm-up, and
    the Spearman correlation between prediction and fitness on those it let through and
    were trained (None with fewer than three)."""
    screened = [c for c in candidates if c.status == "screened"]
    through = [
        c
        for c in candidates
        if c.predicted is not None and c.status == "trained" and not math.isnan(c.fitness)
    ]
    rho = rank_correlation([c.predicted for c in through], [c.fitness for c in through])
    return {
        "screened": len(screened),
        "let_through": sum(c.predicted is not None and c.status != "screened" for c in candidates),
        "trained": sum(c.status == "trained" for c in candidates),
        "spearman": rho,
        "spearman_n": len(through),
    }
