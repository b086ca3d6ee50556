"""The single exception type of the data stage, and how its messages name options.

Every bad input the data stage can meet (an unknown name, a missing or malformed file, a
failed download, labels that do not make the task asked for) raises :class:`DataError`, so
callers and the CLI catch one type and print its message, which always says what was wrong
and what to do.

What to do is often "pass this option". The same option is spelled ``positive=`` in Python
and ``--positive`` on the command line, so a message names it with an :class:`Option` part
and each front end renders the spelling its user types: ``str(err)`` (and
``err.render("python")``) gives ``positive='yes'``, ``err.render("cli")`` gives
``--positive yes``.
"""

from __future__ import annotations

import enum
import shlex
from dataclasses import dataclass
from typing import Literal

from symact.errors import UserError

#: Python parameter -> command-line flag, for the options data-stage messages name. A
#: parameter missing here is spelled ``--<name with dashes>``.
CLI_FLAGS = {
    "data_dir": "--data-dir",
    "drop": "--drop",
    "labels": "--labels",
    "positive": "--positive",
    "rows": "--rows",
    "seed": "--seed",
    "target": "--target",
}

Style = Literal["python", "cli"]


class _Unset(enum.Enum):
    """``Option.value`` when no value is given (an enum member: it pickles as itself)."""

    TOKEN = 0


_UNSET = _Unset.TOKEN


@dataclass(frozen=True)
class Option:
    """A mention of a user-settable option inside a :class:`DataError` message.

    ``name`` is the Python parameter (``"positive"``); ``flag`` overrides the command-line
    spelling where it is not ``CLI_FLAGS[name]`` (the training seed of ``split_standardize``
    is ``--seeds``). Give a concrete ``value`` (shown as ``positive='yes'`` /
    ``--positive yes``), a ``placeholder`` (``positive=<class>`` / ``--positive <class>``),
    or neither (``positive=`` / ``--positive``).
    """

    name: str
    value: object = _UNSET
    placeholder: str | None = None
    flag: str | None = None

    @property
    def cli_flag(self) -> str:
        return self.flag or CLI_FLAGS.get(self.name, "--" + self.name.replace("_", "-"))

    def render(self, style: Style) -> str:
        if style == "cli":
            if self.value is not _UNSET:
                return f"{self.cli_flag} {_shell_word(self.value)}"
            return self.cli_flag + (f" {self.placeholder}" if self.placeholder else "")
        if self.value is not _UNSET:
            return f"{self.name}={self.value!r}"
        return f"{self.name}=" + (self.placeholder or "")


def _shell_word(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return shlex.quote(",".join(str(v) for v in value))
    return shlex.quote(str(value))


class DataError(UserError, ValueError):
    """A dataset could not be found, fetched, verified or turned into the task asked for.

    Build it from message parts: plain strings and :class:`Option` mentions, e.g.
    ``DataError("labels are 'no', 'yes'; pass ", Option("positive", placeholder="<class>"),
    " to say which becomes 1")``. Then:

    * ``str(err)`` / ``err.render("python")``: ``... pass positive=<class> to say ...``
      (what a Python caller types);
    * ``err.render("cli")``: ``... pass --positive <class> to say ...`` (what the CLI
      prints; see ``CLI_FLAGS``);
    * ``err.options``: the parameter names mentioned, in order; ``err.option`` is the first,
      the option the error is about (None when it names none).

    The parts survive pickling (errors cross the discovery child's pipe). A front end that
    catches ``ValueError`` prints ``render_error(exc, "cli")``: a DataError's options come out
    as flags, any other error as its message.
    """

    def __init__(self, *parts: str | Option) -> None:
        self.parts: tuple[str | Option, ...] = parts
        super().__init__(self.render("python"))

    def render(self, style: Style = "python") -> str:
        """The message with each option spelled for ``style``: ``"python"`` or ``"cli"``."""
        return "".join(p if isinstance(p, str) else p.render(style) for p in self.parts)

    @property
    def options(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parts if isinstance(p, Option))

    @property
    def option(self) -> str | None:
        return self.options[0] if self.options else None

    def __reduce__(self) -> tuple[type[DataError], tuple[str | Option, ...]]:
        return (type(self), self.parts)


def render_error(exc: BaseException, style: Style = "cli") -> str:
    """Any exception's message; a :class:`DataError` with its options spelled for ``style``."""
    if isinstance(exc, DataError):
        return exc.render(style)
    return str(exc)
