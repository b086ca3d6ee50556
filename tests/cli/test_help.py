"""The command's help: a bare ``symact`` prints it, ``--version`` answers, every option of
every subcommand says what it does and, where it has one, its default."""

from __future__ import annotations

import argparse
import re

import pytest

import symact
from symact.cli import EXIT_USAGE, build_parser, main


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_bare_symact_prints_the_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == EXIT_USAGE
    out = capsys.readouterr().out
    assert out.startswith("usage: symact")
    for command in ("benchmark", "search", "report", "discover", "datasets"):
        assert command in out


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"symact {symact.__version__}"


def test_every_option_of_every_subcommand_has_help_text() -> None:
    missing = [
        f"symact {name} {action.option_strings[0]}"
        for name, sub in _subparsers(build_parser()).items()
        for action in sub._actions
        if action.option_strings and not (action.help or "").strip()
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("command", "option", "shown"),
    [
        ("benchmark", "--epochs", "15 for the paper's and builtin suites)"),
        ("benchmark", "--lr", "(default: 0.001)"),
        ("benchmark", "--weight-decay", "(default: 0.0)"),
        ("search", "--population", "(default: 64)"),
        ("search", "--tournament", "(default: 8)"),
        ("search", "--epochs", "(default: 3)"),
    ],
)
def test_help_shows_the_defaults(
    capsys: pytest.CaptureFixture[str], command: str, option: str, shown: str
) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    metavar = option.lstrip("-").upper().replace("-", "_")
    after = text[text.index(f"{option} {metavar} ") + len(option) :]
    following = re.search(r" --[a-z-]+ [A-Z_]+ ", after)  # the next option and its metavar
    assert shown in after[: following.start() if following else None]


def test_datasets_shows_the_cache_folder(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SYMACT_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert f"data folder: {tmp_path / 'cache' / 'symact'} (the per-user cache" in out
    monkeypatch.setenv("SYMACT_DATA_DIR", str(tmp_path / "mine"))
    assert main(["datasets"]) == 0
    assert f"data folder: {tmp_path / 'mine'} ($SYMACT_DATA_DIR)" in capsys.readouterr().out
