"""The command line is one layer: command modules share ``options``, ``checks``, ``specs``
and ``session`` and import none of each other, and the search stage holds no CLI code.
Read from the source's import statements (every ``import``, at any depth, lazy ones too)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import symact
import symact.cli

SRC = Path(symact.__file__).parent
COMMANDS = set(symact.cli.COMMANDS)


def _imports(path: Path) -> set[str]:
    """Every module a file imports, resolved to ``symact.x.y`` where relative."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_every_command_has_its_module_and_each_imports():
    modules = {p.stem for p in (SRC / "cli").glob("*.py")}
    assert modules >= COMMANDS
    for name in sorted(modules - {"__init__"}):
        module = importlib.import_module(f"symact.cli.{name}")
        assert module.__name__ == f"symact.cli.{name}"
    for name in COMMANDS:
        module = importlib.import_module(f"symact.cli.{name}")
        assert callable(module.add_parser) and callable(module.command), name


def test_no_command_module_imports_another():
    for name in sorted(COMMANDS):
        imported = _imports(SRC / "cli" / f"{name}.py")
        others = {f"symact.cli.{o}" for o in COMMANDS - {name}}
        assert not imported & others, f"cli/{name}.py imports {sorted(imported & others)}"
        assert "symact.cli" not in imported, f"cli/{name}.py imports the package"


def test_the_shared_modules_import_no_command():
    commands = {f"symact.cli.{c}" for c in COMMANDS}
    for name in ("checks", "options", "specs", "session"):
        imported = _imports(SRC / "cli" / f"{name}.py")
        assert not imported & commands, f"cli/{name}.py imports {sorted(imported & commands)}"
        assert "symact.cli" not in imported


def test_no_stage_imports_the_command_line():
    for path in sorted(SRC.rglob("*.py")):
        if path.parent.name == "cli" or path.name == "__main__.py":
            continue
        imported = {m for m in _imports(path) if m == "symact.cli" or m.startswith("symact.cli.")}
        assert not imported, f"{path.relative_to(SRC)} imports {sorted(imported)}"
    assert not (SRC / "search" / "cli.py").exists()
