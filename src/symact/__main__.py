"""``python -m symact`` is the ``symact`` command."""

from symact.cli import run

run()
