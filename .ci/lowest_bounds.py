"""Print pip constraints that pin every direct dependency to the lowest version it declares.

CI's lowest-versions step installs the package with these constraints into a fresh venv and
runs the tests there, so a ``>=`` bound in pyproject.toml is a tested claim rather than a
guess. The direct dependencies are ``[project] dependencies`` plus the extras named on the
command line (``test ray parquet``); each must be written ``name>=version`` (a bound we can
test), anything else stops the step with the entry named. Transitive dependencies are left
to pip's resolver, as a user's install would leave them. ``torch`` is the exception: CI
tests the local CPU wheel, so its pin comes from ``--torch``.

Usage: python .ci/lowest_bounds.py [--torch VERSION] [EXTRA ...] > lowest.txt
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib

BOUND = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][0-9A-Za-z.]*)\s*$")


def lowest_pins(requirements: list[str], torch: str | None) -> list[str]:
    """``name==lowest`` for each ``name>=lowest`` entry, once per name, torch from ``torch``."""
    pins: dict[str, str] = {}
    for entry in requirements:
        match = BOUND.match(entry)
        if match is None:
            sys.exit(f"pyproject.toml: dependency {entry!r} is not 'name>=version'; write it so")
        name, version = match.group(1).lower(), match.group(2)
        pins[name] = torch if name == "torch" and torch else version
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def main(argv: list[str]) -> None:
    torch = None
    if argv[:1] == ["--torch"]:
        torch, argv = argv[1], argv[2:]
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    extras = project.get("optional-dependencies", {})
    for extra in argv:
        if extra not in extras:
            sys.exit(f"pyproject.toml has no extra {extra!r}; extras: {', '.join(extras)}")
        requirements += extras[extra]
    print("\n".join(lowest_pins(requirements, torch)))


if __name__ == "__main__":
    main(sys.argv[1:])
