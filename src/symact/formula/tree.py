"""The formula tree: a small immutable node type that every other stage passes around.

A ``Formula`` is an operator applied to argument formulas, a numeric constant, or a variable
(``x`` for activations, ``X0 ... Xn`` for gplearn's features). Nodes are validated when they
are built, so a ``Formula`` that exists is always well formed: known operator, right arity,
finite constants, bounded depth and size. Cleverness (compilation, simplification, printing
as math) lives in ``compile.py``; this module only holds structure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from math import isfinite
from typing import TYPE_CHECKING, Any

from symact.errors import UserError
from symact.formula.operators import OPERATORS

if TYPE_CHECKING:
    import numpy as np
    import sympy
    from torch import Tensor

#: Deepest tree accepted. gplearn programs rarely exceed depth 30; the bound keeps every
#: recursive walk (compilers, sympy) far below Python's recursion limit.
MAX_DEPTH = 200
#: Most nodes accepted (``x**16`` nested could otherwise blow up exponentially).
MAX_SIZE = 20_000

_VARIABLE = re.compile(r"x|X(?:0|[1-9][0-9]{0,5})")


class FormulaError(UserError, ValueError):
    """A formula was rejected: bad text, unknown operator, wrong arity, non-finite constant.

    The message names the problem, the position (for text) and how to fix it.
    """


def _number(value: object) -> float:
    """``value`` as a float for a constant node, or a FormulaError saying what it was."""
    if isinstance(value, (str, bytes)):
        raise FormulaError(
            f"a constant needs a number, got the text {value!r}; parse text with parse_formula"
        )
    if isinstance(value, bool):
        raise FormulaError(f"a constant needs a number, got {value!r}")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise FormulaError(
            f"a constant needs a number, got {type(value).__name__} {value!r}"
        ) from None


def _variable_key(name: str) -> tuple[int, int]:
    return (-1, 0) if name == "x" else (0, int(name[1:]))


@dataclass(frozen=True, eq=False, repr=False)
class Formula:
    """An immutable formula tree.

    ``op`` is an operator name from the table, ``"const"`` (``value`` is the float) or
    ``"var"`` (``value`` is the name: ``"x"`` or ``"X<n>"``). Equality and hash are
    structural; ``str()`` is canonical prefix notation (gplearn's style) that
    ``parse_formula`` reads back to an equal formula.
    """

    op: str
    args: tuple[Formula, ...] = ()
    value: float | str | None = None
    _size: int = field(init=False, repr=False, compare=False)
    _depth: int = field(init=False, repr=False, compare=False)
    _hash: int = field(init=False, repr=False, compare=False)
    _variables: frozenset[str] = field(init=False, repr=False, compare=False)
    _text: list[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        op, args, value = self.op, self.args, self.value
        if op == "const":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise FormulaError(f"a constant needs a float value, got {value!r}")
            value = float(value)
            if not isfinite(value):
                raise FormulaError(f"constant {value!r} is not finite; use a finite number")
            object.__setattr__(self, "value", value)
            if args:
                raise FormulaError("a constant takes no arguments")
            variables: frozenset[str] = frozenset()
        elif op == "var":
            if not isinstance(value, str) or not _VARIABLE.fullmatch(value):
                raise FormulaError(f"variable {value!r} must be 'x' or 'X<n>' (e.g. 'X3')")
            if args:
                raise FormulaError("a variable takes no arguments")
            variables = frozenset((value,))
        else:
            row = OPERATORS.get(op)
            if row is None:
                raise FormulaError(
                    f"unknown operator {op!r}; known operators: {', '.join(OPERATORS)}"
                )
            if not isinstance(args, tuple) or not all(isinstance(a, Formula) for a in args):
                raise FormulaError(f"arguments of {op!r} must be a tuple of Formula")
            if len(args) != row.arity:
                raise FormulaError(f"{op!r} takes {row.arity} argument(s), got {len(args)}")
            if value is not None:
                raise FormulaError(f"operator {op!r} takes no value")
            variables = frozenset().union(*(a._variables for a in args))
        size = 1 + sum(a._size for a in args)
        depth = 1 + max((a._depth for a in args), default=0)
        if depth > MAX_DEPTH:
            raise FormulaError(f"formula is deeper than {MAX_DEPTH} levels; simplify it first")
        if size > MAX_SIZE:
            raise FormulaError(f"formula has more than {MAX_SIZE} nodes; simplify it first")
        object.__setattr__(self, "_size", size)
        object.__setattr__(self, "_depth", depth)
        object.__setattr__(self, "_variables", variables)
        object.__setattr__(self, "_hash", hash((op, self.value, tuple(a._hash for a in args))))
        object.__setattr__(self, "_text", [])

    # ------------------------------------------------------------------ constructors

    @classmethod
    def const(cls, value: float) -> Formula:
        """A numeric constant node; anything but a real number is a FormulaError.

        Text is refused even where ``float()`` would read it: formulas are data, and text
        belongs to ``parse_formula``, which says where it goes wrong.
        """
        return cls("const", (), _number(value))

    @classmethod
    def var(cls, name: str = "x") -> Formula:
        """A variable node: ``"x"`` or ``"X<n>"``."""
        return cls("var", (), name)

    @classmethod
    def call(cls, op: str, *args: Formula) -> Formula:
        """An operator node, e.g. ``Formula.call("mul", Formula.var(), Formula.const(2))``."""
        return cls(op, tuple(args))

    # ------------------------------------------------------------------ structure

    @property
    def is_const(self) -> bool:
        return self.op == "const"

    @property
    def is_var(self) -> bool:
        return self.op == "var"

    @property
    def size(self) -> int:
        """Number of nodes (gplearn's ``length_``)."""
        return self._size

    @property
    def depth(self) -> int:
        """Levels in the tree; a single leaf has depth 1 (gplearn's ``depth_`` + 1)."""
        return self._depth

    @property
    def variables(self) -> tuple[str, ...]:
        """Variable names used, ``x`` first, then ``X<n>`` by index."""
        return tuple(sorted(self._variables, key=_variable_key))

    @property
    def is_univariate(self) -> bool:
        """True when the formula uses no ``X<n>`` feature (only ``x``, or nothing)."""
        return all(v == "x" for v in self._variables)

    def nodes(self) -> Iterator[Formula]:
        """Nodes in prefix order (the order gplearn stores a program in)."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.args))

    @property
    def constants(self) -> tuple[float, ...]:
        """Constant values in prefix (print) order; ``with_constants`` takes the same order."""
        return tuple(n.value for n in self.nodes() if n.op == "const")  # type: ignore[misc]

    def with_constants(self, values: Sequence[float]) -> Formula:
        """The same tree with its constants replaced, in the order of ``constants``."""
        values = [_number(v) for v in values]
        count = sum(1 for n in self.nodes() if n.op == "const")
        if len(values) != count:
            raise FormulaError(f"formula has {count} constant(s), got {len(values)} values")
        it = iter(values)
        return self._map_leaves(lambda leaf: Formula.const(next(it)) if leaf.is_const else leaf)

    def univariate(self) -> Formula:
        """Every feature ``X<n>`` replaced by ``x`` (the paper's step to an activation)."""
        x = Formula.var("x")
        return self._map_leaves(lambda leaf: x if leaf.is_var else leaf)

    def _map_leaves(self, fn: Callable[[Formula], Formula]) -> Formula:
        # Leaves are visited in prefix order (with_constants relies on it).
        def rebuild(node: Formula) -> Formula:
            if not node.args:
                return fn(node)
            return Formula(node.op, tuple(rebuild(a) for a in node.args))

        return rebuild(self)

    # ------------------------------------------------------------------ identity

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Formula):
            return NotImplemented
        stack = [(self, other)]
        while stack:
            a, b = stack.pop()
            if a is b:
                continue
            if a._hash != b._hash or a.op != b.op or a.value != b.value:
                return False
            if len(a.args) != len(b.args):
                return False
            stack.extend(zip(a.args, b.args, strict=True))
        return True

    def __str__(self) -> str:
        if not self._text:
            self._text.append(_render(self))
        return self._text[0]

    def __repr__(self) -> str:
        return f"<Formula {self}>"

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle as canonical text: compact, and no deep recursion in pickle.
        from symact.formula.parser import parse_formula

        return (parse_formula, (str(self),))

    def __copy__(self) -> Formula:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Formula:
        return self

    # ------------------------------------------------------------------ compilers

    def to_numpy(self, *, features: bool | None = None) -> Callable[[np.ndarray], np.ndarray]:
        """A numpy function computing this formula.

        Over ``X0...Xn`` (or with ``features=True``) it takes a 2-D array (rows x features) and
        returns what gplearn's ``_Program.execute`` returns for the same program, bit for bit.
        Over ``x`` alone (or with ``features=False``) it applies element-wise to an array of
        any shape, keeping its dtype. A formula with no variable at all (gplearn evolves such
        programs, e.g. ``tan(sqrt(-0.725))``) is read as gplearn does on a 2-D array (one
        value per row) and element-wise on any other shape.
        """
        from symact.formula.compile import compile_numpy

        return compile_numpy(self, features=features)

    def to_torch(self, *, features: bool | None = None) -> Callable[[Tensor], Tensor]:
        """A differentiable torch function of this formula (element-wise over ``x``).

        Same values as ``to_numpy``; finite values and gradients for finite inputs, also at
        0 and +-1e-9, because every protected branch is computed on a safe argument.
        Over ``X0...Xn`` (or ``features=True``) it takes ``(..., features)`` tensors.
        """
        from symact.formula.compile import compile_torch

        return compile_torch(self, features=features)

    def to_sympy(self) -> sympy.Expr:
        """The formula as a sympy expression (protected operators as their plain math).

        Variables are plain ``sympy.Symbol(name)``, the symbols a sympy user writes, so
        ``f.to_sympy().subs(Symbol("x"), 1)`` substitutes and ``f.to_sympy() - x*cos(x)``
        cancels. (``simplify`` assumes them real internally.)
        """
        from symact.formula.compile import to_sympy

        return to_sympy(self)

    def to_latex(self) -> str:
        """The formula as LaTeX, from the operator table's templates."""
        from symact.formula.compile import to_latex

        return to_latex(self)

    def simplify(self, *, seed: int = 0) -> Formula:
        """A simpler equal formula via sympy, or ``self`` if none is found.

        The sympy result is converted back and accepted only if it is smaller and evaluates
        equal to this formula (with the protected semantics) on random inputs drawn from
        ``seed``: simplification never changes behaviour on ordinary inputs.
        """
        from symact.formula.compile import simplify

        return simplify(self, seed=seed)

    def is_degenerate(self) -> bool:
        """True when the formula, as a function of ``x``, is constant or linear on [-5, 5].

        Such a formula is useless as an activation (a network with it collapses to a
        linear model). Features are first replaced by ``x``.
        """
        from symact.formula.compile import is_degenerate

        return is_degenerate(self)


def _render(root: Formula) -> str:
    """Canonical prefix text, built without recursion."""
    out: list[str] = []
    stack: list[Formula | str] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
        elif item.op == "const":
            out.append(repr(item.value))
        elif item.op == "var":
            out.append(item.value)  # type: ignore[arg-type]
        else:
            out.append(item.op + "(")
            stack.append(")")
            for i in range(len(item.args) - 1, -1, -1):
                stack.append(item.args[i])
                if i:
                    stack.append(", ")
    return "".join(out)
