"""The C interpreter of activation programs, generated from the operator table.

The stacked trainer's fused kernels evaluate every model's activation (and its
derivatives) inside C loops. A formula reaches them as a :class:`~symact.formula.program.Program`
(straight-line code over registers); this module writes, once, the C functions that run
such programs over arrays of elements, one ``case`` per row of the operator table, from the
row's ``c`` (value) and ``c_grad`` (partial derivatives) columns. So adding an operator is
still one row: the interpreter, like the parser and the other compilers, reads the table.

Three ways to run an instruction over ``n`` elements (each loop vectorized, the libm calls
by glibc's vector math library where present):

* ``symact_op_tangent``: value and forward-mode derivative (each argument's tangent through
  the row's gradient rule, summed), for
  the forward pass of a formula with fixed constants: the derivative with respect to ``x``
  comes out with the value, as torch's autograd would compute it for the torch column.
* ``symact_op_value``: value only (the forward pass when constants are learnable).
* ``symact_op_adjoint``: reverse mode, each argument's adjoint grows by its rule applied to
  the value's adjoint, which gives the gradient with respect to ``x`` and to every constant
  in one sweep.

Formulas are data: the generated source depends only on the table, never on a formula;
programs are arrays of integers read by it.
"""

from __future__ import annotations

from symact.formula.operators import EXP_MAX, OPERATORS, PROTECTION_THRESHOLD, Operator
from symact.formula.program import CONST_B, OPCODES

#: libm functions the operator rows may call (the kernels declare their vector variants)
LIBM_FUNCTIONS = ("sinf", "cosf", "tanf", "tanhf", "expf", "logf", "erff", "log1pf", "expm1f")

_HELPERS = f"""\
#define SYMACT_T {PROTECTION_THRESHOLD!r}f
#define SYMACT_EXP_MAX {EXP_MAX!r}f
#define SYMACT_SIGN(a) ((float)(((a) > 0.0f) - ((a) < 0.0f)))
/* c ? x : y as a bitwise blend of both sides, exact for every value (inf and NaN too).
   gcc keeps a loop scalar ("control flow in loop") when ?: chooses a libm call's result,
   which would leave such an operator at scalar libm's speed; a blend of bits vectorizes. */
static inline float symact_pick(int c, float x, float y) {{
    uint32_t xb, yb, r, m = (uint32_t)0 - (uint32_t)(c != 0);
    float out;
    __builtin_memcpy(&xb, &x, 4);
    __builtin_memcpy(&yb, &y, 4);
    r = (xb & m) | (yb & ~m);
    __builtin_memcpy(&out, &r, 4);
    return out;
}}
"""


def _cases(kind: str) -> list[str]:
    out = []
    for name, row in OPERATORS.items():
        variants = [(OPCODES[name], row.c, row.c_grad)]
        if row.c_clamp is not None:
            value, grad_a = row.c_clamp
            variants.append((OPCODES[name] | CONST_B, value, (grad_a, "0.0f")))
        for opcode, value, grads in variants:
            out.append(_case(kind, opcode, row, value, grads))
    return out


def _case(kind: str, opcode: int, row: Operator, value: str, grads: tuple[str, ...]) -> str:
    if len(grads) != row.arity or not value:
        raise ValueError(f"operator {row.name!r} needs a C value and one partial per argument")
    binary = row.arity == 2
    load = "const float a = A[i]" + (", b = B[i]" if binary else "") + ";"
    if kind == "tangent":  # forward mode: each argument's tangent through its rule, summed
        chain = f"float dv; {{ const float g = DA[i]; dv = {grads[0]}; }}"
        if binary:
            chain += f" {{ const float g = DB[i]; dv += {grads[1]}; }}"
        body = f"{load} const float v = {value}; V[i] = v; {chain} DV[i] = dv;"
    elif kind == "value":
        body = f"{load} V[i] = {value};"
    else:
        body = f"{load} const float v = V[i], g = G[i]; GA[i] += {grads[0]};"
        if binary:
            body += f" GB[i] += {grads[1]};"
    return (
        f"    case {opcode}: /* {row.name} */\n"
        '        _Pragma("omp simd")\n'
        f"        for (int64_t i = 0; i < n; i++) {{ {body} }}\n"
        "        return;"
    )


def interpreter_source() -> str:
    """C source of the three instruction functions and the program runners (static)."""
    signatures = {
        "tangent": "const float *A, const float *B, const float *DA, const float *DB, "
        "float *V, float *DV",
        "value": "const float *A, const float *B, float *V",
        "adjoint": "const float *A, const float *B, const float *V, const float *G, "
        "float *GA, float *GB",
    }
    parts = [_HELPERS]
    for kind, args in signatures.items():
        cases = "\n".join(_cases(kind))
        parts.append(
            f"static void symact_op_{kind}(int32_t op, int64_t n, {args}) {{\n"
            f"    (void)B;\n    switch (op) {{\n{cases}\n"
            "    default:\n        return;\n    }\n}\n"
        )
    parts.append(_RUNNERS)
    return "\n".join(parts)


# Registers r live at R + r * stride (values) and D + r * stride (derivatives or adjoints).
_RUNNERS = """\
/* Run n_instr instructions (op, dst, a, b) over n elements: values and tangents. */
static void symact_run_tangent(const int32_t *code, int64_t n_instr, int64_t n, int64_t stride,
                               float *R, float *D) {
    for (int64_t i = 0; i < n_instr; i++) {
        const int32_t *c = code + 4 * i;
        symact_op_tangent(c[0], n, R + c[2] * stride, R + c[3] * stride, D + c[2] * stride,
                          D + c[3] * stride, R + c[1] * stride, D + c[1] * stride);
    }
}

/* The same, values only. */
static void symact_run_value(const int32_t *code, int64_t n_instr, int64_t n, int64_t stride,
                             float *R) {
    for (int64_t i = 0; i < n_instr; i++) {
        const int32_t *c = code + 4 * i;
        symact_op_value(c[0], n, R + c[2] * stride, R + c[3] * stride, R + c[1] * stride);
    }
}

/* Reverse sweep over a tape left by symact_run_value: G holds the adjoint of every register
   (zero except the output's seed); afterwards G's x and constant registers hold the
   gradients. */
static void symact_run_adjoint(const int32_t *code, int64_t n_instr, int64_t n, int64_t stride,
                               const float *R, float *G) {
    for (int64_t i = n_instr - 1; i >= 0; i--) {
        const int32_t *c = code + 4 * i;
        symact_op_adjoint(c[0], n, R + c[2] * stride, R + c[3] * stride, R + c[1] * stride,
                          G + c[1] * stride, G + c[2] * stride, G + c[3] * stride);
    }
}
"""


def c_float(value: float) -> str:
    """A float constant as C source: the double literal cast to float, as torch casts it."""
    import math

    value = float(value)
    if math.isnan(value):
        return '__builtin_nanf("")'
    if math.isinf(value):
        return "__builtin_inff()" if value > 0 else "(-__builtin_inff())"
    return f"((float){value!r})"
