"""The search space: random formula trees from the operator table, and how children are made.

Candidates are :class:`~symact.formula.Formula` trees over ``x`` built from the one operator
table, bounded in size and depth. A child comes from a parent by one of four mutations
(Bingham & Miikkulainen's evolution, Real et al.'s regularized evolution), the rows of
:data:`MUTATIONS`, each drawn in proportion to its weight:

* ``point``: one operator replaced by another of the same arity, or a leaf by another leaf;
* ``subtree``: one subtree replaced by a fresh random one;
* ``hoist``: the tree replaced by one of its own subtrees (keeps the search from bloating);
* ``jitter``: one constant multiplied by ``exp(N(0, 0.3))``;

or from two parents by ``crossover`` (a subtree of the first replaced by one of the
second). Every random draw comes from the ``numpy.random.Generator`` passed in, so a search
is a deterministic function of its seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from symact.errors import SettingError
from symact.formula.operators import OPERATORS
from symact.formula.tree import Formula, FormulaError

#: The operators a search draws from by default: the table's activation primitives and
#: gplearn's arithmetic; sqrt, log, inv, div and tan are left out (steep or protected near
#: 0, they mostly produce candidates that fail to train) but can be asked for.
DEFAULT_OPERATORS: tuple[str, ...] = (
    "add",
    "sub",
    "mul",
    "max",
    "min",
    "neg",
    "abs",
    "sin",
    "cos",
    "tanh",
    "sig",
    "exp",
    "relu",
    "softplus",
    "erf",
    "gelu",
    "silu",
)

#: Known activations every search starts from (PROTOCOL: relu, gelu, silu, tanh, x·cos x;
#: and the baselines reviewers expect: elu, selu, mish, leaky_relu).
KNOWN_ACTIVATIONS: tuple[str, ...] = (
    "relu(x)",
    "gelu(x)",
    "silu(x)",
    "tanh(x)",
    "mul(x, cos(x))",
    "elu(x)",
    "selu(x)",
    "mish(x)",
    "leaky_relu(x)",
)

#: Known activations whose constants the network learns whatever the search's setting, by
#: their name in ``formula/named.py`` (PReLU: its slope, one per layer); a candidate made
#: from one is ``learnable`` (``evolution.Candidate``). The ``param:`` forms are baselines
#: of the verdict only: the per-neuron form is part of a network's structure, which every
#: candidate of a stack shares, and the search's mutations would not keep it.
KNOWN_LEARNABLE: tuple[str, ...] = ("prelu",)


def _constant(rng: np.random.Generator) -> Formula:
    """A readable constant: one of a few common values, or a 2-decimal draw in [-2, 2]."""
    if rng.random() < 0.5:
        return Formula.const(float(rng.choice([0.5, 1.0, 2.0, -1.0, 0.1, 3.0])))
    return Formula.const(round(float(rng.uniform(-2.0, 2.0)), 2) or 0.5)


def _leaf(rng: np.random.Generator) -> Formula:
    return Formula.var("x") if rng.random() < 0.75 else _constant(rng)


def random_tree(space: SearchSpace, rng: np.random.Generator, depth: int | None = None) -> Formula:
    """A random tree over ``x`` ("grow": each node is a leaf with growing probability)."""
    depth = space.init_depth if depth is None else depth

    def grow(d: int) -> Formula:
        if d <= 1 or (d < depth and rng.random() < 0.3):
            return _leaf(rng)
        if space.binary and (not space.unary or rng.random() < 0.45):
            op = str(rng.choice(space.binary))
            return Formula.call(op, grow(d - 1), grow(d - 1))
        return Formula.call(str(rng.choice(space.unary)), grow(d - 1))

    for _ in range(100):
        tree = grow(depth)
        if space.fits(tree):
            return tree
    return Formula.call(str(rng.choice(space.unary or ("relu",))), Formula.var("x"))


def _subtrees(f: Formula) -> list[tuple[tuple[int, ...], Formula]]:
    """(path, node) for every node; a path is the argument indices from the root."""
    out: list[tuple[tuple[int, ...], Formula]] = []
    stack: list[tuple[tuple[int, ...], Formula]] = [((), f)]
    while stack:
        path, node = stack.pop()
        out.append((path, node))
        for i in range(len(node.args) - 1, -1, -1):
            stack.append(((*path, i), node.args[i]))
    return out


def _replace(f: Formula, path: tuple[int, ...], new: Formula) -> Formula:
    if not path:
        return new
    i, rest = path[0], path[1:]
    args = list(f.args)
    args[i] = _replace(args[i], rest, new)
    return Formula(f.op, tuple(args))


def _point(f: Formula, space: SearchSpace, rng: np.random.Generator) -> Formula:
    path, node = _subtrees(f)[int(rng.integers(f.size))]
    if node.is_var or node.is_const:
        new = _constant(rng) if node.is_var else Formula.var("x")
    else:
        same = space.unary if len(node.args) == 1 else space.binary
        choices = [op for op in same if op != node.op] or [node.op]
        new = Formula(str(rng.choice(choices)), node.args)
    return _replace(f, path, new)


def _subtree(f: Formula, space: SearchSpace, rng: np.random.Generator) -> Formula:
    path, _ = _subtrees(f)[int(rng.integers(f.size))]
    return _replace(f, path, random_tree(space, rng, depth=int(rng.integers(1, 3)) + 1))


def _hoist(f: Formula, space: SearchSpace, rng: np.random.Generator) -> Formula:
    inner = [node for path, node in _subtrees(f) if path and "x" in node.variables]
    return inner[int(rng.integers(len(inner)))] if inner else _point(f, space, rng)


def _jitter(f: Formula, space: SearchSpace, rng: np.random.Generator) -> Formula:
    consts = [(path, node) for path, node in _subtrees(f) if node.is_const]
    if not consts:
        return _point(f, space, rng)
    path, node = consts[int(rng.integers(len(consts)))]
    value = float(node.value) * float(np.exp(rng.normal(0.0, 0.3)))  # type: ignore[arg-type]
    return _replace(f, path, Formula.const(float(f"{value:.3g}")))


def crossover(a: Formula, b: Formula, rng: np.random.Generator) -> Formula:
    """``a`` with a random subtree replaced by a random subtree of ``b``."""
    path, _ = _subtrees(a)[int(rng.integers(a.size))]
    _, donor = _subtrees(b)[int(rng.integers(b.size))]
    return _replace(a, path, donor)


@dataclass(frozen=True)
class Mutation:
    """One way to make a child from one parent, and how often the search draws it
    (``weight``, relative to the others')."""

    name: str
    apply: Callable[[Formula, SearchSpace, np.random.Generator], Formula]
    weight: float = 1.0


#: The search's mutations: the only list of them. The draw reads it (``draw_mutation``), the
#: search's identity names it (``operator_table``); a new row is drawn from its first use.
MUTATIONS: tuple[Mutation, ...] = (
    Mutation("point", _point),
    Mutation("subtree", _subtree),
    Mutation("hoist", _hoist),
    Mutation("jitter", _jitter),
)


@dataclass(frozen=True)
class SearchSpace:
    """Which trees a search may propose (operators and bounds) and how it makes children
    (``mutations``, and crossover at ``crossover_rate``)."""

    operators: tuple[str, ...] = DEFAULT_OPERATORS
    max_size: int = 15
    max_depth: int = 6
    init_depth: int = 3
    crossover_rate: float = 0.2
    mutations: tuple[Mutation, ...] = MUTATIONS

    def __post_init__(self) -> None:
        unknown = [op for op in self.operators if op not in OPERATORS]
        if unknown:
            raise FormulaError(
                f"unknown operator {unknown[0]!r}; known operators: {', '.join(OPERATORS)}"
            )
        if not any(OPERATORS[op].arity == 1 for op in self.operators) and not any(
            OPERATORS[op].arity == 2 for op in self.operators
        ):
            raise FormulaError("a search needs at least one operator")
        if self.max_size < 2 or self.max_depth < 2:
            raise SettingError("max_size and max_depth must be at least 2")
        names = [m.name for m in self.mutations]
        if not names or len(set(names)) != len(names):
            raise SettingError(f"mutations need distinct names, at least one; got {names}")
        if not all(0 < m.weight < math.inf for m in self.mutations):
            raise SettingError("every mutation's weight must be a finite number > 0")
        if not 0 <= self.crossover_rate <= 1:
            raise SettingError(f"crossover_rate must be in [0, 1], got {self.crossover_rate}")

    @property
    def unary(self) -> tuple[str, ...]:
        return tuple(op for op in self.operators if OPERATORS[op].arity == 1)

    @property
    def binary(self) -> tuple[str, ...]:
        return tuple(op for op in self.operators if OPERATORS[op].arity == 2)

    def fits(self, f: Formula) -> bool:
        return f.size <= self.max_size and f.depth <= self.max_depth and "x" in f.variables

    def operator_table(self) -> dict[str, Any]:
        """How children are made, as the search's identity names it: each mutation's
        weight, and the crossover rate. Another table draws other children from the same
        seed, so a resumed search compares it with the one it started with."""
        return {
            "mutations": [[m.name, m.weight] for m in self.mutations],  # in order: it is drawn
            "crossover_rate": self.crossover_rate,
        }

    def draw_mutation(self, rng: np.random.Generator) -> Mutation:
        """A mutation drawn by weight. Equal weights draw as ``rng.choice`` of the names
        always has (one integer draw), so a search keeps its proposals for a given seed."""
        weights = np.array([m.weight for m in self.mutations], dtype=float)
        p = None if np.all(weights == weights[0]) else weights / weights.sum()
        return self.mutations[int(rng.choice(len(self.mutations), p=p))]

    def mutation(self, name: str) -> Mutation:
        for m in self.mutations:
            if m.name == name:
                return m
        raise SettingError(
            f"unknown mutation {name!r}; this space's: {', '.join(m.name for m in self.mutations)}"
        )


def mutate(
    parent: Formula, space: SearchSpace, rng: np.random.Generator, op: str
) -> Formula | None:
    """One mutation of ``parent`` (``op`` names a row of ``space.mutations``), or None
    when it leaves the space (too large, too deep, no ``x``) after a few tries."""
    apply = space.mutation(op).apply
    for _ in range(8):
        child = apply(parent, space, rng)
        if space.fits(child) and child != parent:
            return child
    return None
