"""The formula parser: text in, ``Formula`` out, and nothing else ever runs.

One grammar reads both gplearn's prefix notation (``add(mul(X3, cos(X3)), -0.412)``, which is
only function calls) and ordinary infix (``x*cos(x) + 0.5``, ``max(x, 0)``, ``-x``, ``x**2``).
It is a Pratt parser over a lazy tokenizer that accepts a small ASCII alphabet. Input length
and nesting are bounded before any work is done, so hostile text fails fast with a
``FormulaError`` naming the position and the offending token; no ``eval``/``exec``/``compile``
is involved anywhere.

Infix mapping: ``a + b`` -> ``add``, ``a - b`` -> ``sub``, ``a * b`` -> ``mul``,
``a / b`` -> ``div`` (gplearn's protected division), ``-a`` -> ``neg`` (``-2.5`` is the
constant -2.5), ``a ** n`` with a literal integer ``0 <= n <= 16`` -> a chain of ``mul``
(``x**3`` is ``mul(mul(x, x), x)``; ``x**0`` is ``1.0``). Precedence is Python's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from symact.formula.operators import OPERATORS, SPELLINGS
from symact.formula.tree import _VARIABLE, MAX_DEPTH, Formula, FormulaError

#: Longest accepted text (characters); longer input is refused before it is scanned.
MAX_LENGTH = 100_000
#: Largest integer exponent accepted in ``a ** n``.
MAX_POWER = 16

_TOKEN = re.compile(
    r"(?P<ws>[ \t\r\n]+)"
    r"|(?P<num>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<name>[A-Za-z][A-Za-z0-9_]*)"  # leaky_relu; never a leading _ (dunders)
    r"|(?P<op>\*\*|[-+*/(),])"
)

_CHAR_HINTS = {
    "_": "a name starts with a letter (so no dunders)",
    ".": "attributes are not allowed; numbers look like 0.5",
    "^": "use ** for integer powers",
    "'": "quotes are not allowed",
    '"': "quotes are not allowed",
    ":": "lambdas and slices are not allowed",
    "[": "indexing is not allowed",
}

# Binding powers (higher binds tighter), as in Python.
_INFIX = {"+": ("add", 10), "-": ("sub", 10), "*": ("mul", 20), "/": ("div", 20)}
_UNARY_BP = 25
_POWER_BP = 30


@dataclass(frozen=True)
class _Token:
    kind: str  # "num", "name", "op", "end"
    text: str
    pos: int


def _context(text: str, pos: int) -> str:
    start = max(0, pos - 20)
    return text[start : pos + 20]


class _Parser:
    """A Pratt parser; ``depth`` bounds recursion (about two Python frames per level)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.peeked: _Token | None = None

    # -------------------------------------------------------------- tokens

    def error(self, message: str, pos: int) -> FormulaError:
        return FormulaError(f"{message} at position {pos} (near {_context(self.text, pos)!r})")

    def _scan(self) -> _Token:
        text, pos = self.text, self.pos
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:
                ch = text[pos]
                hint = _CHAR_HINTS.get(ch, "allowed: ASCII letters, digits, + - * / ** ( ) , .")
                raise self.error(f"unexpected character {ch!r} (U+{ord(ch):04X}): {hint}", pos)
            self.pos = pos = m.end()
            if m.lastgroup != "ws":
                return _Token(m.lastgroup, m.group(), m.start())  # type: ignore[arg-type]
        return _Token("end", "", len(text))

    def peek(self) -> _Token:
        if self.peeked is None:
            self.peeked = self._scan()
        return self.peeked

    def next(self) -> _Token:
        tok = self.peek()
        self.peeked = None
        return tok

    def expect(self, text: str, what: str) -> _Token:
        tok = self.next()
        if tok.text != text or tok.kind != "op":
            found = repr(tok.text) if tok.kind != "end" else "end of text"
            raise self.error(f"expected {what}, found {found}", tok.pos)
        return tok

    # -------------------------------------------------------------- nodes

    def node(self, op: str, args: tuple[Formula, ...], pos: int) -> Formula:
        try:
            return Formula(op, args)
        except FormulaError as exc:
            raise self.error(str(exc), pos) from None

    def number(self, tok: _Token, sign: float = 1.0) -> Formula:
        value = sign * float(tok.text)  # text matched the number regex: float() only
        if value != value or value in (float("inf"), float("-inf")):
            raise self.error(f"constant {tok.text!r} is not finite; use a finite number", tok.pos)
        return Formula.const(value)

    # -------------------------------------------------------------- grammar

    def expression(self, min_bp: int, depth: int) -> Formula:
        if depth > MAX_DEPTH:
            raise self.error(f"formula nests deeper than {MAX_DEPTH} levels", self.peek().pos)
        left = self.prefix(self.next(), depth)
        while True:
            tok = self.peek()
            if tok.kind != "op":
                break
            if tok.text == "**":
                if min_bp >= _POWER_BP:
                    break
                self.next()
                left = self.power(left, tok)
                continue
            infix = _INFIX.get(tok.text)
            if infix is None or infix[1] <= min_bp:
                break
            self.next()
            op, bp = infix
            right = self.expression(bp, depth + 1)
            left = self.node(op, (left, right), tok.pos)
        return left

    def prefix(self, tok: _Token, depth: int) -> Formula:
        if tok.kind == "num":
            return self.number(tok)
        if tok.kind == "name":
            return self.name(tok, depth)
        if tok.kind == "op" and tok.text == "(":
            inner = self.expression(0, depth + 1)
            self.expect(")", f"')' to close the '(' at position {tok.pos}")
            return inner
        if tok.kind == "op" and tok.text == "-":
            after = self.peek()
            if after.kind == "num":
                # '-0.412' is a negative constant (gplearn prints them so), unless a power
                # follows: -2**2 is -(2**2) as in Python.
                self.next()
                if self.peek().text != "**":
                    return self.number(after, -1.0)
                self.peeked, self.pos = after, after.pos + len(after.text)  # put it back
            operand = self.expression(_UNARY_BP, depth + 1)
            return self.node("neg", (operand,), tok.pos)
        if tok.kind == "op" and tok.text == "+":
            return self.expression(_UNARY_BP, depth + 1)
        if tok.kind == "end":
            raise self.error("unexpected end of formula: expected a number, name or '('", tok.pos)
        raise self.error(f"unexpected {tok.text!r}: expected a number, name or '('", tok.pos)

    def name(self, tok: _Token, depth: int) -> Formula:
        name = SPELLINGS.get(tok.text, tok.text)  # sigmoid(x) is sig(x)
        row = OPERATORS.get(name)
        after = self.peek()
        if after.kind == "op" and after.text == "(":
            if row is None:
                raise self.error(
                    f"unknown function {tok.text!r} (known: {', '.join(SPELLINGS)})", tok.pos
                )
            self.next()
            args = [self.expression(0, depth + 1)]
            while self.peek().text == "," and self.peek().kind == "op":
                comma = self.next()
                if self.peek().text == ")":
                    raise self.error(f"missing argument after ',' in {name}(...)", comma.pos)
                args.append(self.expression(0, depth + 1))
            self.expect(")", f"',' or ')' in {name}(...)")
            if len(args) != row.arity:
                raise self.error(
                    f"{name!r} takes {row.arity} argument(s), got {len(args)}", tok.pos
                )
            return self.node(name, tuple(args), tok.pos)
        if row is not None:
            raise self.error(
                f"operator {tok.text!r} must be called with arguments: {tok.text}(...)", tok.pos
            )
        if _VARIABLE.fullmatch(name):
            return Formula.var(name)
        raise self.error(
            f"unknown name {name!r}: variables are 'x' and 'X0', 'X1', ...; "
            f"functions are {', '.join(OPERATORS)}",
            tok.pos,
        )

    def power(self, base: Formula, tok: _Token) -> Formula:
        exponent = self.next()
        if exponent.kind != "num":
            raise self.error(
                f"exponent must be an integer literal 0..{MAX_POWER} (for 1/a use inv(a))",
                exponent.pos,
            )
        value = float(exponent.text)
        if not (value.is_integer() and 0 <= value <= MAX_POWER):
            raise self.error(
                f"exponent {exponent.text!r} must be an integer literal 0..{MAX_POWER}",
                exponent.pos,
            )
        if self.peek().kind == "op" and self.peek().text == "**":
            raise self.error("chained '**' is ambiguous; add parentheses", self.peek().pos)
        return integer_power(base, int(value), lambda op, args: self.node(op, args, tok.pos))


def integer_power(
    base: Formula, n: int, make: Callable[[str, tuple[Formula, ...]], Formula] = Formula
) -> Formula:
    """``base ** n`` for a literal ``n >= 0`` as a left chain of ``mul`` (``1.0`` for n = 0)."""
    if n == 0:
        return Formula.const(1.0)
    result = base
    for _ in range(n - 1):
        result = make("mul", (result, base))
    return result


def parse_formula(text: str) -> Formula:
    """Parse a formula in gplearn prefix notation or infix; raise ``FormulaError`` if invalid.

    >>> str(parse_formula("add(mul(X3, cos(X3)), -0.412)"))
    'add(mul(X3, cos(X3)), -0.412)'
    >>> str(parse_formula("x*cos(x) + 0.5"))
    'add(mul(x, cos(x)), 0.5)'
    """
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be a str, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise FormulaError(
            f"formula text is {len(text):,} characters; at most {MAX_LENGTH:,} are accepted"
        )
    parser = _Parser(text)
    if parser.peek().kind == "end":
        raise FormulaError("empty formula: write e.g. 'mul(cos(x), x)' or 'x*cos(x)'")
    formula = parser.expression(0, 0)
    tok = parser.peek()
    if tok.kind != "end":
        raise parser.error(
            f"unexpected {tok.text!r} after a complete formula: expected an operator or the end",
            tok.pos,
        )
    return formula
