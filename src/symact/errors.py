"""The one base of every error that is the user's to fix, so a bug never reads as one.

A problem with what the user gave (a flag, a file, a column, a formula, a results folder,
a Ray address, an environment variable) raises a subclass of :class:`UserError` whose
message names the thing and says how to fix it; the ``symact`` command prints that message
as one line and exits 2. Anything else that escapes is a bug in symact: the command says so
in one line, writes the traceback to a file and exits 1 (``symact.cli.main``).

Each stage keeps its own type (``DataError`` in ``symact.data.errors``, ``FormulaError`` in
``symact.formula.tree``, ``StoreError`` and ``ResultsInUse`` in ``symact.experiments``,
``UsageError`` in ``symact.cli``, the Ray executor's connection errors, the kernel cache's
``KernelDirError``); they share this base. They also stay ``ValueError`` where callers
catch that, which is why the subclasses list both.

This module imports nothing, so every stage may import it (``formula`` imports nothing
else of ours).
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input or environment; the message says what to do."""


class SettingError(UserError, ValueError):
    """A setting symact cannot use: a parameter's value, or an environment variable's
    (``SYMACT_KERNELS``); the message names it and the values it takes."""


class OutputError(UserError):
    """A file or folder the user named for output cannot be written (a full disk, a
    read-only folder); the message names the path."""
