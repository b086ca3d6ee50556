"""A formula of ``x`` as a register program: the form the fused training kernels interpret.

The stacked trainer evaluates each model's activation inside its C kernels. Compiling one C
library per formula cost ~0.35 s of compiler per formula, which an activation search that
trains hundreds of formulas cannot pay; so every formula is instead lowered to a short
straight-line program that one library, built once, interprets over arrays of elements
(``symact.formula.ccode`` generates that interpreter from the operator table, so the
opcodes here and the cases there are the same rows).

Registers: ``0`` holds ``x``; ``1 .. n_constants`` hold the constants; every instruction
writes a new register (static single assignment), so after a run the registers are the tape
a reverse sweep needs. Equal subtrees are computed once. Without learnable constants,
subtrees without ``x`` are folded into one constant exactly as the torch compiler folds
them (float64, numpy's semantics), and an argument that is a folded constant is marked,
because the torch compiler then calls ``torch.clamp`` for ``max``/``min`` (whose gradient
passes at the bound). With learnable constants nothing is folded: constant ``k`` is the
formula's ``k``-th constant in print order (``Formula.constants``), the order
``SymbolicActivation`` names its parameters ``c0, c1, ...``.
"""

from __future__ import annotations

from dataclasses import dataclass

from symact.formula.compile import _fold
from symact.formula.operators import OPERATORS
from symact.formula.tree import Formula, FormulaError

#: Opcode of each operator: its row's position in the table.
OPCODES: dict[str, int] = {name: i for i, name in enumerate(OPERATORS)}
#: Added to an opcode when argument ``b`` is a folded constant (``Operator.c_clamp``).
CONST_B = 1 << 8


@dataclass(frozen=True)
class Program:
    """Straight-line code for one activation (see the module docstring).

    ``code`` holds one ``(opcode, dst, a, b)`` per instruction (``b`` is 0 for unary
    operators); ``constants`` are the initial values of registers ``1 ..``; ``output`` is the
    register holding the result (0 for the identity, a constant register for a formula
    without ``x``).
    """

    code: tuple[tuple[int, int, int, int], ...]
    constants: tuple[float, ...]
    output: int
    learnable: bool

    @property
    def n_registers(self) -> int:
        return 1 + len(self.constants) + len(self.code)

    @property
    def is_relu(self) -> bool:
        """``relu(x)`` alone: the kernels' fast path keeps no derivative for it."""
        return len(self.code) == 1 and self.code[0][0] == OPCODES["relu"] and self.code[0][2] == 0

    def flat_code(self) -> list[int]:
        return [v for instr in self.code for v in instr]


def compile_program(formula: Formula, *, learnable_constants: bool = False) -> Program:
    """Lower a formula of ``x`` to a :class:`Program`; FormulaError for feature variables."""
    bad = [v for v in formula.variables if v != "x"]
    if bad:
        raise FormulaError(
            f"an activation program takes one input x; {formula} uses {', '.join(bad)}: "
            "call .univariate() first"
        )
    if learnable_constants:
        return _compile_learnable(formula)
    return _compile_folded(formula)


class _Builder:
    """Registers and instructions of a program being built; equal work is emitted once."""

    def __init__(self) -> None:
        self.constants: list[float] = []
        self.code: list[tuple[int, int, int, int]] = []
        self.const_regs: dict[float, int] = {}
        self.instr_regs: dict[tuple[int, int, int], int] = {}

    def constant(self, value: float) -> int:
        key = float(value)
        if key not in self.const_regs:  # -0.0 == 0.0 share a register: same float32 results
            self.constants.append(key)
            self.const_regs[key] = len(self.constants)
        return self.const_regs[key]

    def new_constant(self, value: float) -> int:
        self.constants.append(float(value))
        return len(self.constants)

    def instruction(self, opcode: int, a: int, b: int) -> int:
        key = (opcode, a, b)
        if key not in self.instr_regs:
            self.code.append((opcode, -1, a, b))  # dst numbered once constants are known
            self.instr_regs[key] = -len(self.code)  # instruction index, as a negative tag
        return self.instr_regs[key]

    def finish(self, output: int, learnable: bool) -> Program:
        base = 1 + len(self.constants)

        def reg(r: int) -> int:
            return base + (-r - 1) if r < 0 else r

        code = tuple(
            (op, base + i, reg(a), reg(b) if OPERATORS_BY_CODE[op & 0xFF].arity == 2 else 0)
            for i, (op, _, a, b) in enumerate(self.code)
        )
        return Program(code, tuple(self.constants), reg(output), learnable)


OPERATORS_BY_CODE = list(OPERATORS.values())


def _compile_folded(formula: Formula) -> Program:
    b = _Builder()
    memo: dict[Formula, tuple[int | None, float | None]] = {}

    def visit(node: Formula) -> tuple[int | None, float | None]:
        """(register, None) for a value that depends on x, (None, value) for a constant."""
        if node in memo:
            return memo[node]
        if node.is_var:
            out: tuple[int | None, float | None] = (0, None)
        elif node.is_const:
            out = (None, float(node.value))  # type: ignore[arg-type]
        else:
            row = OPERATORS[node.op]
            kids = [visit(a) for a in node.args]
            if all(reg is None for reg, _ in kids):
                out = (None, _fold(row, [v for _, v in kids]))  # type: ignore[misc]
            else:
                opcode = OPCODES[node.op]
                if row.arity == 2 and row.c_clamp is not None and kids[0][0] is None:
                    kids = kids[::-1]  # max/min: the constant goes second (commutative)
                if row.arity == 2 and row.c_clamp is not None and kids[1][0] is None:
                    opcode |= CONST_B
                regs = [b.constant(v) if r is None else r for r, v in kids]  # type: ignore[arg-type]
                out = (b.instruction(opcode, regs[0], regs[1] if row.arity == 2 else 0), None)
        memo[node] = out
        return out

    reg, value = visit(formula)
    return b.finish(b.constant(value) if reg is None else reg, learnable=False)  # type: ignore[arg-type]


def _compile_learnable(formula: Formula) -> Program:
    b = _Builder()
    # one register per constant occurrence, in print order: those are the parameters
    for value in formula.constants:
        b.new_constant(value)
    counter = iter(range(1, len(formula.constants) + 1))

    def visit(node: Formula) -> int:  # children left to right: prefix order, as printed
        if node.is_var:
            return 0
        if node.is_const:
            return next(counter)
        args = [visit(a) for a in node.args]
        return b.instruction(OPCODES[node.op], args[0], args[1] if len(args) == 2 else 0)

    return b.finish(visit(formula), learnable=True)
