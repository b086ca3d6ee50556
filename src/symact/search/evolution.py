"""Regularized evolution over activation formulas, scored by training networks with them.

Each candidate is the Light network with that activation, trained ``epochs`` on the search
part of the training rows once per search seed and scored on the validation part (ROC AUC;
accuracy with all classes); its fitness is the mean over the seeds. The loop (Real et al.
2019, "regularized" or aging evolution) keeps a population of the last ``population``
candidates trained; each child is a mutation (or crossover) of a tournament winner; the
oldest candidate leaves as each child enters, so a lucky early score does not rule forever.
Children are made and trained in batches, many per stack (``symact.training``), and every
run is committed to the results store as it finishes (``symact.experiments.run_grid``).
This fitness is the first rung of ``symact.search.rungs``, which promotes the best to longer
trainings and chooses the finalists on selection rows that no fitness here reads.

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
from symact.formula.named import named_activation
from symact.formula.parser import parse_formula
from symact.formula.tree import Formula
from symact.models import HEAVY, LIGHT, ModelSpec
from symact.search.aggregate import DatasetScore, Reference, aggregate, mean_score, normalized
from symact.search.screen import screen
from symact.search.space import (
    KNOWN_ACTIVATIONS,
    KNOWN_LEARNABLE,
    SearchSpace,
    crossover,
    mutate,
    random_tree,
)
from symact.search.surrogate import Surrogate, SurrogateSettings, check_surrogate
from symact.training.config import AUTO_MAX_EPOCHS, AUTO_PATIENCE, TrainConfig, length_text

#: With a last rung trained to convergence, the default screening rungs stay below the
#: paper's fixed 15 epochs: past that length, validation chooses how long each model trains.
SCREENING_BELOW = 15


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
    # the last rung's seeds: fresh, so that the luck of the search seeds (what the evolution
    # and the earlier rungs selected on) does not carry into the choice of finalists; six,
    # because at convergence the best candidates differ by less than one seed's noise: on
    # 12 datasets two chose a first finalist significantly worse on test than the best
    # baseline on 2, six on none (README, "What it finds, at convergence")
    select_seeds: tuple[int, ...] = tuple(range(501, 507))
    # the last rung and the verdict train to convergence: each model stops after
    # ``final_patience`` epochs without a better loss on a validation part of its training
    # rows and keeps its best epoch's weights (``final_epochs`` the most it trains); at a
    # fixed short length a search finds what learns fastest, not what ends best. None:
    # exactly ``final_epochs`` epochs (15 is the paper's)
    final_epochs: int = AUTO_MAX_EPOCHS
    final_patience: int | None = AUTO_PATIENCE
    final_seeds: tuple[int, ...] = tuple(range(101, 111))
    top: int = 3
    # successive halving over training length (``ladder``): the best 1/eta of each rung go
    # on to the next; ``rungs`` the epochs between ``epochs`` and ``final_epochs`` (None:
    # epochs * eta, epochs * eta**2, ... below final_epochs, or below SCREENING_BELOW when
    # the last rung trains to convergence)
    eta: int = 3
    rungs: tuple[int, ...] | None = None
    # at most this many reach the last rung (final_epochs): 3-epoch fitness favours fast
    # learners, so the pool is wide (on HIGGS the best finalist's validation AUC at 15 epochs
    # was 0.6650 from 10 shapes, 0.6744 from 30, GELU's 0.6761; ~10% more training)
    rerank: int = 30
    # share of the training part set aside before the search: the last rung, the baselines'
    # validation scores and the finalists' margin are measured there, on rows the search's
    # fitness never read (a thousand candidates ranked on one set of rows pick its winners)
    selection: float = 0.2
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
        if self.eta < 2:
            raise SettingError(f"eta must be at least 2, got {self.eta}")
        if self.final_patience is not None and self.final_patience < 1:
            raise SettingError(f"final_patience must be >= 1 or None, got {self.final_patience}")
        middle = self.rungs or ()
        if any(not self.epochs < e < self.final_epochs for e in middle) or list(middle) != sorted(
            set(middle)
        ):
            raise SettingError(
                f"rungs {list(middle)} must increase strictly between epochs ({self.epochs}) "
                f"and final_epochs ({self.final_epochs})"
            )

    @property
    def ladder(self) -> tuple[int, ...]:
        """Every rung's epochs: ``epochs`` (every candidate), the middle rungs, and
        ``final_epochs`` (the verdict's training length, at which finalists are chosen)."""
        if self.rungs is not None:
            return (self.epochs, *self.rungs, self.final_epochs)
        below = self.final_epochs
        if self.final_patience is not None:
            below = min(below, SCREENING_BELOW)
        middle, e = [], self.epochs * self.eta
        while e < below:
            middle.append(e)
            e *= self.eta
        return (self.epochs, *middle, self.final_epochs)

    def ladder_text(self) -> str:
        """The rungs' training lengths as the reports say them: "3 -> 9 -> auto (at most
        300, patience 16)" for a last rung trained to convergence."""
        *screen, last = self.ladder
        end = length_text(last, self.final_patience)
        return " -> ".join([*(str(e) for e in screen), end])

    def search_split(self) -> SplitSpec:
        """Trained on the fit rows, scored on the search's validation rows."""
        return SplitSpec(self.seed, self.test_size, self.validation, self.selection)

    def select_split(self) -> SplitSpec:
        """Scored on the selection rows (the search's own validation rows without a
        selection share)."""
        if not self.selection:
            return self.search_split()
        return SplitSpec(self.seed, self.test_size, 0.0, self.selection)

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
            # fixed-length searches keep the identity they had before early stopping existed
            **({"final_patience": self.final_patience} if self.final_patience else {}),
            "final_seeds": list(self.final_seeds),
            "top": self.top,
            "rerank": self.rerank,
            "eta": self.eta,
            "ladder": list(self.ladder),
            "selection": self.selection,
            "learnable_constants": self.learnable_constants,
            "specialist": self.specialist,
            # the first generation (PReLU joined it with #22: a search's identity changed)
            "known": [*KNOWN_ACTIVATIONS, *KNOWN_LEARNABLE],
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
    # a search over several datasets: the scores on each (``scores`` is then empty)
    datasets: tuple[DatasetScore, ...] = ()
    predicted: float | None = None  # the surrogate's fitness, where it judged this proposal
    # its constants are learned whatever the search's setting (PReLU of the first
    # generation, ``space.KNOWN_LEARNABLE``); its children are plain formulas
    learnable: bool = False

    @property
    def fitness(self) -> float:
        """Mean validation score over the search seeds; NaN if a seed failed or untrained.
        Over several datasets, the mean of their normalized scores (``search.aggregate``)."""
        return fitness_of(self.scores, self.datasets)

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
            "fitness_per_dataset": [d.to_dict() for d in self.datasets],
            "fitness": None if math.isnan(self.fitness) else self.fitness,
            "learned": [list(layers) for layers in self.learned],
            "predicted": self.predicted,
            "learnable": self.learnable,
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


def stage_score(
    runs: Sequence[dict[str, Any] | None], n_classes: int
) -> tuple[tuple[float | None, ...], float]:
    """A candidate's score at a stage (a rung, the selection) from its stored runs there:
    each run's score and their mean (NaN where one failed or is missing). The one place a
    stage's runs become a score, in the search, every rung and the verdict."""
    scores = tuple(metric_of(r, n_classes) for r in runs)
    return scores, mean_score(scores)


def fitness_of(scores: Sequence[float | None], per_dataset: Sequence[DatasetScore]) -> float:
    """A fitness from a stage's scores: the mean over seeds on one dataset, the aggregate of
    the normalized scores on several (``search.aggregate``); what ``Candidate.fitness`` is."""
    if per_dataset:
        return aggregate([d.normalized for d in per_dataset])
    return mean_score(scores)


#: The store's record of how the search in it makes children (``SearchSpace.operator_table``).
OPERATOR_TABLE_DOCUMENT = "search_operator_table"


def check_operator_table(store: ResultsStore, space: SearchSpace) -> None:
    """Record the operator table of the first search in ``store``; a later one (a resumed
    search) must have the same, or it would replay other proposals from the same seed
    while its stored runs say otherwise: a :class:`StoreError` naming both."""
    table = space.operator_table()
    stored = store.pin_document(OPERATOR_TABLE_DOCUMENT, table)
    if stored is not None:
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
    """The evolutionary loop over one dataset, or over several with one population (each
    candidate trained on every one; its fitness aggregated by ``search.aggregate``); see
    the module docstring."""

    def __init__(
        self,
        data: DataSpec | Sequence[DataSpec],
        settings: SearchSettings,
        store: ResultsStore,
        cache: DataCache,
        train: Trainer,
        *,
        specialist: Formula | None = None,
        n_classes: int = 2,
        progress: ProgressFn | None = None,
    ) -> None:
        self.datasets = (data,) if isinstance(data, DataSpec) else tuple(data)
        self.data, self.settings, self.store, self.cache = self.datasets[0], settings, store, cache
        self.train, self.progress = train, progress
        self.specialist, self.n_classes = specialist, n_classes
        self.rng = np.random.default_rng(settings.seed)
        self.state = SearchState()
        self.model = settings.light.with_outputs(n_classes)
        self._references: dict[tuple[str, int | None], dict[DataSpec, Reference]] = {}
        self.surrogate = Surrogate(settings.surrogate) if settings.surrogate.enabled else None

    # ------------------------------------------------------------------ specs

    def _model_for(self, data: DataSpec, network: ModelSpec | None = None) -> ModelSpec:
        if network is not None:
            return network.with_outputs(self._classes(data))
        return self.model if data == self.data else self.model.with_outputs(self._classes(data))

    def _classes(self, data: DataSpec) -> int:
        return self.n_classes if data == self.data else self.cache.n_classes(data)

    def run_specs(
        self,
        formula: Formula | str,
        *,
        stage: str = "search",
        data: DataSpec | None = None,
        learnable: bool | None = None,
        epochs: int | None = None,
        network: ModelSpec | None = None,
    ) -> list[RunSpec]:
        """The runs that score ``formula`` at a stage: ``search`` (search validation rows,
        search seeds, ``epochs`` or the given rung's, a fixed length), ``select`` (selection
        rows, select seeds: the last rung, where finalists are chosen at the verdict's
        training length) or ``final`` (test part, final seeds); the last two train to
        convergence with ``final_patience`` (at most ``final_epochs``), or exactly
        ``final_epochs`` without.
        ``network``: another network than the Light one (Heavy ReLU, a reference of a search
        over several datasets). ``formula`` may be any activation text ``ModelSpec`` takes: a
        baseline's name carries its flags (``"prelu"`` learns its slope whatever
        ``learnable``; ``"param:relu"`` is the per-neuron parametric form)."""
        s = self.settings
        lc = s.learnable_constants if learnable is None else learnable
        data = data or self.data
        model = self._model_for(data, network).with_activation(str(formula), learnable_constants=lc)
        if stage == "search":
            train = replace(s.train, epochs=epochs or s.epochs, patience=None)
        else:
            train = replace(s.train, epochs=epochs or s.final_epochs, patience=s.final_patience)
        split = {"search": s.search_split, "select": s.select_split, "final": s.test_split}
        seeds = {"search": s.search_seeds, "select": s.select_seeds, "final": s.final_seeds}[stage]
        return [RunSpec(data, model, seed, train, split[stage]()) for seed in seeds]

    def rung_stage(self, rung: int) -> tuple[str, int | None]:
        """(stage, epochs) of rung ``rung`` of ``settings.ladder``: the last is the
        ``select`` stage, the others the ``search`` stage at that rung's epochs."""
        ladder = self.settings.ladder
        if rung == len(ladder) - 1:
            return "select", None
        return "search", ladder[rung]

    def rung_specs(self, formula: Formula, rung: int) -> list[RunSpec]:
        """The runs that score ``formula`` at rung ``rung`` (:meth:`rung_stage`)."""
        stage, epochs = self.rung_stage(rung)
        return self.run_specs(formula, stage=stage, epochs=epochs)

    # ------------------------------------------------------------------ scores

    def label(self, data: DataSpec) -> str:
        return self.cache.dataset(data).display_name

    def references(self, stage: str, epochs: int | None = None) -> dict[DataSpec, Reference]:
        """Light ReLU's and Heavy ReLU's scores on each search dataset at ``stage`` (and
        ``epochs``; trained once, then stored): the units of ``search.aggregate``."""
        key = (stage, epochs)
        if key not in self._references:
            relu = parse_formula("relu(x)")
            heavy = replace(self.settings.light, hidden=HEAVY.hidden)
            groups = {
                (d, which): self.run_specs(
                    relu, stage=stage, data=d, learnable=False, epochs=epochs, network=net
                )
                for d in self.datasets
                for which, net in (("light", None), ("heavy", heavy))
            }
            self.train([spec for g in groups.values() for spec in g])
            results = self.store.stored_runs(spec.key() for g in groups.values() for spec in g)
            score = {
                k: stage_score([results.get(spec.key()) for spec in g], self._classes(k[0]))[1]
                for k, g in groups.items()
            }
            self._references[key] = {
                d: Reference(score[(d, "light")], score[(d, "heavy")]) for d in self.datasets
            }
        return self._references[key]

    def references_used(self) -> dict[str, dict[str, dict[str, float]]]:
        """Every reference trained so far, for the search's record: "stage" or
        "stage@epochs" -> dataset label -> Light ReLU, Heavy ReLU, scale."""
        return {
            (stage if epochs is None else f"{stage}@{epochs}"): {
                self.label(d): r.to_dict() for d, r in refs.items()
            }
            for (stage, epochs), refs in self._references.items()
        }

    def stage_scores(
        self,
        formulas: Sequence[tuple[Formula, bool]],
        stage: str,
        epochs: int | None = None,
    ) -> list[tuple[tuple[float | None, ...], tuple[DatasetScore, ...], tuple[dict, ...]]]:
        """The score of each (formula, learnable) at ``stage`` on the search's datasets, all
        trained in one grid (what is stored is not trained again), each dataset's by
        :func:`stage_score`. Per formula: the scores by seed (one-dataset search; else
        empty), the per-dataset scores (several datasets; else empty) and the stored results
        of its runs on the first dataset. Its fitness: :func:`fitness_of` of the two."""
        several = len(self.datasets) > 1
        groups = [
            [
                self.run_specs(f, stage=stage, data=d, learnable=lc, epochs=epochs)
                for d in self.datasets
            ]
            for f, lc in formulas
        ]
        self.train([spec for g in groups for per in g for spec in per])
        results = self.store.stored_runs(spec.key() for g in groups for per in g for spec in per)
        refs = self.references(stage, epochs) if several else {}
        out = []
        for g in groups:
            seeds = [
                stage_score([results.get(spec.key()) for spec in per], self._classes(d))[0]
                for d, per in zip(self.datasets, g, strict=True)
            ]
            first = tuple(results.get(spec.key()) for spec in g[0])
            if not several:
                out.append((seeds[0], (), first))
                continue
            per_dataset = tuple(
                DatasetScore(self.label(d), s, normalized(mean_score(s), refs[d]))
                for d, s in zip(self.datasets, seeds, strict=True)
            )
            out.append(((), per_dataset, first))
        return out

    def learns(self, c: Candidate) -> bool:
        """Whether ``c``'s constants are learned: the search's setting, or its own."""
        return c.learnable or self.settings.learnable_constants

    def rung_scores(self, candidates: Sequence[Candidate], rung: int) -> list[float]:
        """Each candidate's fitness at rung ``rung``: its mean score there on a one-dataset
        search, the aggregate of its normalized per-dataset scores (references trained at
        the same rung) on several."""
        stage, epochs = self.rung_stage(rung)
        formulas = [(c.formula, self.learns(c)) for c in candidates]
        scored = self.stage_scores(formulas, stage, epochs)
        return [fitness_of(seeds, per_dataset) for seeds, per_dataset, _ in scored]

    # ------------------------------------------------------------------ the loop

    def run(self) -> SearchState:
        started = self.store.get_document(OPERATOR_TABLE_DOCUMENT) is not None
        check_surrogate(self.store, self.settings.surrogate, started)
        check_operator_table(self.store, self.settings.space)
        start = time.perf_counter()
        st, s = self.state, self.settings
        first = [(parse_formula(t), "known", ()) for t in KNOWN_ACTIVATIONS]
        learned = [
            (parse_formula(named_activation(t).formula), "known", ()) for t in KNOWN_LEARNABLE
        ]  # type: ignore[union-attr]
        if self.specialist is not None:
            first.append((self.specialist, "specialist", ()))
        batch = (self._admit(first) + self._admit(learned, learnable=True))[: s.budget]
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

    def _admit(self, proposals, cap: int | None = None, learnable: bool = False) -> list[Candidate]:
        """Record each proposal (``learnable``: its constants are learned whatever the
        search's setting); return those to train (new, not degenerate)."""
        st = self.state
        out: list[Candidate] = []
        for formula, origin, parents in proposals:
            if cap is not None and len(out) >= cap:
                break
            c = Candidate(len(st.candidates), formula, st.generation, origin, tuple(parents))
            c.learnable = learnable
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
        scored = self.stage_scores([(c.formula, self.learns(c)) for c in batch], "search")
        for c, (scores, per_dataset, rs) in zip(batch, scored, strict=True):
            c.scores, c.datasets = scores, per_dataset
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
