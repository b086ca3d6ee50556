"""Regularized evolution over activation formulas, scored by training networks with them.

Each candidate is the Light network with that activation, trained ``epochs`` on the search
part of the training rows once per search seed and scored on the validation part (ROC AUC;
accuracy with all classes); its fitness is the mean over the seeds. The loop (Real et al.
2019, "regularized" or aging evolution) keeps a population of the last ``population``
candidates trained; each child is a mutation (or crossover) of a tournament winner; the
oldest candidate leaves as each child enters, so a lucky early score does not rule forever.
Children are made and trained in batches, many per stack (``symact.training``), and every
run is committed to the results store as it finishes (``symact.experiments.run_grid``).

A search is a deterministic function of its settings and seed: proposals depend only on
the seeded generator and on fitness values, which come from the store when they are there.
So an interrupted search, run again, replays its proposals, finds the finished runs stored,
trains the rest and continues to the same result; a finished search run again only
rewrites its outputs. (With ``time_limit`` the stopping point depends on the clock.)
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from symact.errors import SettingError
from symact.experiments.datacache import DataCache
from symact.experiments.specs import DataSpec, RunSpec, SplitSpec
from symact.experiments.store import ResultsStore, StoreError
from symact.formula.parser import parse_formula
from symact.formula.tree import Formula
from symact.models import LIGHT, ModelSpec
from symact.search.screen import screen
from symact.search.space import KNOWN_ACTIVATIONS, SearchSpace, crossover, mutate, random_tree
from symact.search.surrogate import Surrogate, SurrogateSettings, check_surrogate
from symact.training.config import TrainConfig


@dataclass(frozen=True)
class SearchSettings:
    """Everything that decides a search's result (``seed`` included) and its verdict."""

    seed: int = 0
    budget: int = 1000
    population: int = 64
    tournament: int = 8
    batch: int = 32
    epochs: int = 3
    search_seeds: tuple[int, ...] = (1, 2)
    # the finalists' second look at validation: fresh seeds, so that the luck of the search
    # seeds (what the evolution selected on) does not carry into the choice of finalists
    select_seeds: tuple[int, ...] = (501, 502)
    final_epochs: int = 15
    final_seeds: tuple[int, ...] = tuple(range(101, 111))
    top: int = 3
    # the best by search fitness, scored again at final_epochs: 3-epoch fitness favours fast
    # learners, so the pool is wide (on HIGGS the best finalist's validation AUC at 15 epochs
    # was 0.6650 from 10 shapes, 0.6744 from 30, GELU's 0.6761; ~10% more training)
    rerank: int = 30
    learnable_constants: bool = False
    specialist: bool = False  # the dataset's gplearn formula joins the first generation
    space: SearchSpace = field(default_factory=SearchSpace)
    light: ModelSpec = LIGHT
    train: TrainConfig = field(default_factory=TrainConfig)
    test_size: float = 0.2
    validation: float = 0.2
    time_limit: float | None = None  # seconds; not part of the result's identity
    # the pre-screen (off: every new proposal is trained); the budget counts trained ones
    surrogate: SurrogateSettings = field(default_factory=SurrogateSettings)

    def __post_init__(self) -> None:
        stages = (self.search_seeds, self.select_seeds, self.final_seeds)
        shared = set(stages[0]) & set(stages[2]) | (set(stages[1]) & set(stages[2]))
        if shared or set(stages[0]) & set(stages[1]):
            raise SettingError(
                "search, selection and final seeds must be disjoint (selection and judgement "
                "on the same seeds is the winner's curse); "
                f"{sorted(shared or set(stages[0]) & set(stages[1]))} appear twice"
            )
        if self.budget < 1 or self.population < 2 or self.batch < 1 or self.top < 1:
            raise SettingError("budget, batch and top must be >= 1, population >= 2")
        if self.rerank < self.top:
            raise SettingError(f"rerank ({self.rerank}) must be at least top ({self.top})")
        if not 2 <= self.tournament <= self.population:
            raise SettingError(f"tournament must be in [2, population], got {self.tournament}")

    def search_split(self) -> SplitSpec:
        return SplitSpec(self.seed, self.test_size, self.validation)

    def test_split(self) -> SplitSpec:
        return SplitSpec(self.seed, self.test_size)

    def identity(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "budget": self.budget,
            "population": self.population,
            "tournament": self.tournament,
            "batch": self.batch,
            "epochs": self.epochs,
            "search_seeds": list(self.search_seeds),
            "select_seeds": list(self.select_seeds),
            "final_epochs": self.final_epochs,
            "final_seeds": list(self.final_seeds),
            "top": self.top,
            "rerank": self.rerank,
            "learnable_constants": self.learnable_constants,
            "specialist": self.specialist,
            "operators": list(self.space.operators),
            "max_size": self.space.max_size,
            "max_depth": self.space.max_depth,
            **self.space.operator_table(),
            "light": self.light.to_dict(),
            "optimizer": self.train.optimizer,
            "lr": self.train.lr,
            "batch_size": self.train.batch_size,
            "test_size": self.test_size,
            "validation": self.validation,
            # off leaves the identity as it was before the pre-screen existed
            **({"surrogate": self.surrogate.identity()} if self.surrogate.enabled else {}),
        }


@dataclass
class Candidate:
    """One proposal of the search, trained or not (``status``: trained, failed, rejected,
    duplicate, screened), with how it came about."""

    index: int
    formula: Formula
    generation: int
    origin: str  # known, specialist, random, point, subtree, hoist, jitter, crossover
    parents: tuple[int, ...] = ()
    fingerprint: str | None = None
    status: str = "proposed"
    reason: str | None = None
    twin: int | None = None  # the candidate a duplicate has the values of
    scores: tuple[float | None, ...] = ()
    learned: tuple[tuple[str, ...], ...] = ()  # per seed, per layer (learnable constants)
    predicted: float | None = None  # the surrogate's fitness, where it judged this proposal

    @property
    def fitness(self) -> float:
        """Mean validation score over the search seeds; NaN if a seed failed or untrained."""
        if not self.scores or any(s is None for s in self.scores):
            return math.nan
        return float(np.mean(self.scores))

    def to_dict(self, *, simplify: bool = False) -> dict[str, Any]:
        """A JSON record; ``simplify`` adds the sympy-simplified formula (else None)."""
        return {
            "index": self.index,
            "formula": str(self.formula),
            "simplified": str(self.formula.simplify()) if simplify else None,
            "generation": self.generation,
            "origin": self.origin,
            "parents": list(self.parents),
            "status": self.status,
            "reason": self.reason,
            "twin": self.twin,
            "fitness_per_seed": list(self.scores),
            "fitness": None if math.isnan(self.fitness) else self.fitness,
            "learned": [list(layers) for layers in self.learned],
            "predicted": self.predicted,
        }


def selection_metric(n_classes: int) -> tuple[str, str]:
    """The score a search selects and judges on, as (result field, name shown): ROC AUC
    for two classes, accuracy for more (AUC has no one multi-class meaning)."""
    return ("auc", "AUC") if n_classes <= 2 else ("accuracy", "accuracy")


def metric_of(result: dict[str, Any] | None, n_classes: int) -> float | None:
    """A run's score by :func:`selection_metric`; None where it failed or has none."""
    if result is None or result.get("failed"):
        return None
    value = result[selection_metric(n_classes)[0]]
    return None if value is None else float(value)


#: The store's record of how the search in it makes children (``SearchSpace.operator_table``).
OPERATOR_TABLE_DOCUMENT = "search_operator_table"


def check_operator_table(store: ResultsStore, space: SearchSpace) -> None:
    """Record the operator table of the first search in ``store``; a later one (a resumed
    search) must have the same, or it would replay other proposals from the same seed
    while its stored runs say otherwise: a :class:`StoreError` naming both."""
    table = space.operator_table()
    stored = store.get_document(OPERATOR_TABLE_DOCUMENT)
    if stored is None:
        store.put_document(OPERATOR_TABLE_DOCUMENT, table)
    elif stored != table:
        raise StoreError(
            f"{store.path}: the search stored there made its children with the operator table "
            f"{_table_text(stored)}, this one with {_table_text(table)}; resumed, it would "
            "propose other candidates: use a new --out, or the table it was started with"
        )


def _table_text(table: dict[str, Any]) -> str:
    weights = ", ".join(f"{name} {weight:g}" for name, weight in table["mutations"])
    return f"({weights}; crossover {table['crossover_rate']:g})"


ProgressFn = Callable[[int, int, "Candidate | None", float], None]
"""``progress(trained, budget, best, elapsed_seconds)`` after every batch."""

Trainer = Callable[[Sequence[RunSpec]], None]
"""Trains what the store lacks of some specs (``run_grid`` with the search's executor)."""


@dataclass
class SearchState:
    """A search in progress: every candidate, the population, the fingerprints seen."""

    candidates: list[Candidate] = field(default_factory=list)
    population: deque = field(default_factory=deque)
    seen: dict[str, int] = field(default_factory=dict)  # fingerprint -> first candidate
    trained: int = 0
    generation: int = 0
    stopped: str = ""

    def best(self) -> Candidate | None:
        scored = [c for c in self.candidates if c.status == "trained" and not math.isnan(c.fitness)]
        return max(scored, key=lambda c: (c.fitness, -c.index)) if scored else None


class Search:
    """The evolutionary loop over one dataset (see the module docstring)."""

    def __init__(
        self,
        data: DataSpec,
        settings: SearchSettings,
        store: ResultsStore,
        cache: DataCache,
        train: Trainer,
        *,
        specialist: Formula | None = None,
        n_classes: int = 2,
        progress: ProgressFn | None = None,
    ) -> None:
        self.data, self.settings, self.store, self.cache = data, settings, store, cache
        self.train, self.progress = train, progress
        self.specialist, self.n_classes = specialist, n_classes
        self.rng = np.random.default_rng(settings.seed)
        self.state = SearchState()
        self.model = settings.light.with_outputs(n_classes)
        self.surrogate = Surrogate(settings.surrogate) if settings.surrogate.enabled else None

    # ------------------------------------------------------------------ specs

    def run_specs(
        self,
        formula: Formula,
        *,
        stage: str = "search",
        data: DataSpec | None = None,
        learnable: bool | None = None,
    ) -> list[RunSpec]:
        """The runs that score ``formula`` at a stage: ``search`` (validation part, search
        seeds, ``epochs``), ``select`` (validation part, select seeds, ``final_epochs``: the
        finalists are chosen at the verdict's training length) or ``final`` (test part,
        final seeds, ``final_epochs``)."""
        s = self.settings
        lc = s.learnable_constants if learnable is None else learnable
        model = self.model.with_activation(str(formula), learnable_constants=lc)
        epochs = s.epochs if stage == "search" else s.final_epochs
        train = replace(s.train, epochs=epochs)
        split = s.test_split() if stage == "final" else s.search_split()
        seeds = {"search": s.search_seeds, "select": s.select_seeds, "final": s.final_seeds}[stage]
        return [RunSpec(data or self.data, model, seed, train, split) for seed in seeds]

    # ------------------------------------------------------------------ the loop

    def run(self) -> SearchState:
        started = self.store.get_document(OPERATOR_TABLE_DOCUMENT) is not None
        check_surrogate(self.store, self.settings.surrogate, started)
        check_operator_table(self.store, self.settings.space)
        start = time.perf_counter()
        st, s = self.state, self.settings
        first = [(parse_formula(t), "known", ()) for t in KNOWN_ACTIVATIONS]
        if self.specialist is not None:
            first.append((self.specialist, "specialist", ()))
        batch = self._admit(first)[: s.budget]
        attempts = 0
        while len(batch) < min(s.population, s.budget) and attempts < 50 * s.population:
            attempts += 1
            batch += self._admit([(random_tree(s.space, self.rng), "random", ())])
        self._evaluate(batch, start)
        while st.trained < s.budget:
            if s.time_limit is not None and time.perf_counter() - start > s.time_limit:
                st.stopped = f"time limit of {s.time_limit:g} s reached"
                break
            st.generation += 1
            want = min(s.batch, s.budget - st.trained)
            batch, attempts = [], 0
            while len(batch) < want and attempts < 50 * want:
                attempts += 1
                batch += self._admit([self._child()], cap=want - len(batch))
            if not batch:
                st.stopped = "no new candidate could be made (the space is exhausted)"
                if self.surrogate is not None:
                    st.stopped = f"no new candidate in {attempts} proposals was let through"
                break
            self._evaluate(batch, start)
        if not st.stopped:
            st.stopped = f"budget of {s.budget} trained candidates reached"
        return st

    def _child(self) -> tuple[Formula, str, tuple[int, ...]]:
        s = self.settings
        a = self._tournament()
        if self.rng.random() < s.space.crossover_rate:
            b = self._tournament()
            child = crossover(a.formula, b.formula, self.rng)
            if s.space.fits(child) and child != a.formula:
                return child, "crossover", (a.index, b.index)
        op = s.space.draw_mutation(self.rng).name
        child = mutate(a.formula, s.space, self.rng, op)
        if child is None:  # nothing new in reach: a fresh random tree instead
            return random_tree(s.space, self.rng), "random", ()
        return child, op, (a.index,)

    def _tournament(self) -> Candidate:
        pop = self.state.population
        picks = self.rng.choice(
            len(pop), size=min(self.settings.tournament, len(pop)), replace=False
        )
        contenders = [pop[int(i)] for i in sorted(picks)]
        return max(contenders, key=lambda c: -math.inf if math.isnan(c.fitness) else c.fitness)

    def _admit(self, proposals, cap: int | None = None) -> list[Candidate]:
        """Record each proposal; return those to train (new, not degenerate)."""
        st = self.state
        out: list[Candidate] = []
        for formula, origin, parents in proposals:
            if cap is not None and len(out) >= cap:
                break
            c = Candidate(len(st.candidates), formula, st.generation, origin, tuple(parents))
            st.candidates.append(c)
            found = screen(formula)
            c.fingerprint = found.fingerprint
            if found.reason is not None:
                c.status, c.reason = "rejected", found.reason
            elif found.fingerprint in st.seen:
                twin = st.candidates[st.seen[found.fingerprint]]
                c.status, c.twin = "duplicate", twin.index
                c.reason = f"same values as candidate {twin.index} ({twin.formula})"
            else:
                st.seen[found.fingerprint] = c.index  # type: ignore[index]
                if self.surrogate is None or not self._screened(c, found.values):
                    out.append(c)
        return out

    def _screened(self, c: Candidate, values: np.ndarray | None) -> bool:
        """Whether the surrogate keeps ``c`` from training (recording why); it judges
        nothing before its warm-up, so the first generation is always trained."""
        self.surrogate.remember(c.index, c.formula, values)  # type: ignore[union-attr]
        p = self.surrogate.judge(c.index, self.state.candidates, self.state.population)  # type: ignore[union-attr]
        if p is None:
            return False
        c.predicted = p.predicted
        if p.screened:
            q = self.settings.surrogate.quantile
            c.status = "screened"
            c.reason = (
                f"predicted {p.predicted:.4f}, below the population's {q:g} quantile {p.bar:.4f}"
            )
        return p.screened

    def _evaluate(self, batch: list[Candidate], start: float) -> None:
        st, s = self.state, self.settings
        specs = {c.index: self.run_specs(c.formula) for c in batch}
        self.train([spec for group in specs.values() for spec in group])
        results = self.store.stored_runs(spec.key() for group in specs.values() for spec in group)
        for c in batch:
            rs = [results.get(spec.key()) for spec in specs[c.index]]
            c.scores = tuple(metric_of(r, self.n_classes) for r in rs)
            c.learned = tuple(tuple(r.get("learned_formulas") or ()) for r in rs if r)
            c.status = "trained" if not math.isnan(c.fitness) else "failed"
            if c.status == "failed":
                reasons = [r.get("failure_reason") for r in rs if r and r.get("failed")]
                c.reason = reasons[0] if reasons else "not trained"
            st.population.append(c)
            if len(st.population) > s.population:
                st.population.popleft()  # the oldest leaves: aging evolution
        st.trained += len(batch)
        if self.progress:
            self.progress(st.trained, s.budget, st.best(), time.perf_counter() - start)
