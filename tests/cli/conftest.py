"""Fixtures of the CLI tests: the command run in-process, and a user's CSV of real rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import MAIL_COLUMNS, CliResult, mail_rows, write_csv

from symact.cli import main


@pytest.fixture
def symact(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """``symact(*argv)``: the real command, in this process, with what it printed."""

    def run(*argv: str) -> CliResult:
        capsys.readouterr()
        status = main(list(argv))
        captured = capsys.readouterr()
        return CliResult(status, captured.out, captured.err)

    return run


@pytest.fixture
def mail_csv(tmp_path: Path, shared_data: Path) -> Path:
    """``tmp_path/mail.csv``: 400 real spambase rows as a user's file (see ``mail_rows``)."""
    return write_csv(tmp_path / "mail.csv", MAIL_COLUMNS, mail_rows(shared_data / "spambase.data"))
