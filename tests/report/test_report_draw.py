"""Figures drawn half in a forked child: every file written, and a failure raised here."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import pytest

from symact.report.outputs import _draw


def _write(path: Path) -> None:
    path.write_text(f"drawn by {os.getpid()}")


def test_every_figure_is_drawn_some_by_a_child(tmp_path):
    paths = [tmp_path / f"fig{i}.txt" for i in range(5)]
    _draw([partial(_write, p) for p in paths])
    writers = {p.read_text() for p in paths}  # every file exists
    assert len(writers) == 2 and f"drawn by {os.getpid()}" in writers


def test_a_figure_failing_in_the_child_raises_here(tmp_path):
    def broken() -> None:
        raise ValueError("cannot draw this figure")

    ok = tmp_path / "ok.txt"
    with pytest.raises(ValueError, match="cannot draw this figure"):
        _draw([broken, partial(_write, ok)])  # broken goes to the child, ok stays here
    assert ok.exists()
