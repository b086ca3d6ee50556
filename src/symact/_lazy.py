"""Package attributes imported on first use (PEP 562).

Why: torch is imported only where it is used (docs/design.md), so that data loading,
formula parsing and gplearn discovery run without its ~1.5 s import. A package's
``__init__`` names what it exports and where it lives; the first access imports that module.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_attributes(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``where`` maps each exported name to the
    module that defines it; the value is imported on first access and kept in the package."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
