"""Suite files: a benchmark's datasets (each with its own label column, positive class,
dropped columns, ...) and optionally its grid, in one TOML file, validated whole up front.

TOML because Python reads it with its standard library (``tomllib``), it has comments,
and lists of tables (``[[dataset]]``) read as what they are; a suite file is configuration
a person writes by hand. The file::

    [grid]                      # optional; command-line flags override each key
    activations = ["relu", "gelu", "x*tanh(x)"]
    widths = [64, 32]
    heavy_widths = [200, 100]   # or "none"
    seeds = [42, 43, 44]
    epochs = "auto"             # or a number (default auto: early stopping)
    discovery = "none"          # or "gplearn"

    [[dataset]]
    source = "magic.csv.gz"     # a file, a registry name (spambase) or openml:ID
    target = "class"
    positive = "h"
    drop = ["id"]
    labels = "binary"           # or "all"
    rows = 5000
    missing = "impute"          # or "drop", "refuse"

A file source is looked up beside the suite file, then in the data folder (``--data-dir``);
an absolute path is used as written. Validation reads no data and imports nothing heavy:
every mistake (a key not known, with the closest known one; a value of the wrong type; a
file that is not there; two entries the tables could not tell apart) is one line naming the
file, the entry and the key, and all of them are reported together.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from symact.data.errors import DataError
from symact.data.missing import MISSING_POLICIES
from symact.data.openml import parse_openml_source
from symact.data.registry import data_home, resolve_name
from symact.experiments.specs import LABELS, DataSpec

DISCOVERY_METHODS = ("gplearn", "none")
#: where the suite files that ship with symact live (``--suite tabular`` reads tabular.toml)
SHIPPED_FOLDER = Path(__file__).with_name("suite_files")


@dataclass(frozen=True)
class SuiteGrid:
    """The grid keys a suite file set (None: not set there; the command's default or flag)."""

    activations: tuple[str, ...] | None = None
    widths: tuple[int, ...] | None = None
    heavy_widths: tuple[int, ...] | str | None = None
    seeds: tuple[int, ...] | None = None
    epochs: int | str | None = None
    discovery: str | None = None


@dataclass(frozen=True)
class SuiteFile:
    """A validated suite file: its datasets as :class:`DataSpec` (file sources resolved to
    paths) and the grid keys it set."""

    path: Path
    datasets: tuple[DataSpec, ...]
    grid: SuiteGrid = field(default_factory=SuiteGrid)

    @property
    def name(self) -> str:
        return self.path.name.split(".", 1)[0]

    def grid_options(self) -> dict[str, Any]:
        """The grid keys the file set, as :func:`make_suite` options."""
        from symact.models import ModelSpec
        from symact.models.spec import canonical_activation
        from symact.training.config import TrainConfig

        g, options = self.grid, {}
        if g.activations is not None:
            options["activations"] = tuple(canonical_activation(a) for a in g.activations)
        if g.widths is not None:
            options["light"] = ModelSpec(hidden=g.widths)
        if g.heavy_widths is not None:
            hw = g.heavy_widths
            options["heavy"] = None if hw == "none" else ModelSpec(hidden=tuple(hw))
        if g.seeds is not None:
            options["seeds"] = g.seeds
        # a suite file trains to convergence unless it fixes its epochs
        if g.epochs is None or g.epochs == "auto":
            options["train"] = TrainConfig.auto()
        else:
            options["train"] = TrainConfig(epochs=g.epochs)
        if g.discovery is not None:
            options["discovery_method"] = g.discovery
        return options


def shipped_suite_files() -> dict[str, Path]:
    """The suite files that ship with symact, by name (``tabular``, ``openml-cc18``)."""
    return {p.name.split(".", 1)[0]: p for p in sorted(SHIPPED_FOLDER.glob("*.toml"))}


def looks_like_suite_file(text: str) -> bool:
    """True when ``--suite`` names a suite file (a shipped name or a ``.toml`` path)."""
    return text in shipped_suite_files() or text.lower().endswith(".toml")


def suite_file_path(text: str) -> Path:
    """The file ``--suite`` names: a shipped suite's name or a path."""
    return shipped_suite_files().get(text) or Path(text)


# --------------------------------------------------------------------------- schema

_ENTRY_KEYS = ("source", "target", "positive", "drop", "labels", "rows", "missing")
_GRID_KEYS = ("activations", "widths", "heavy_widths", "seeds", "epochs", "discovery")
_TOP_KEYS = ("dataset", "grid")


def _did_you_mean(key: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key {key!r}{hint} (known keys: {', '.join(known)})"


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_list(v: object, item_ok, what: str) -> str | None:
    if not isinstance(v, list) or not v or not all(item_ok(x) for x in v):
        return f"must be a non-empty list of {what}, got {v!r}"
    if len(set(map(str, v))) != len(v):
        return f"lists a value twice: {v!r}"
    return None


def _entry_problem(key: str, v: object) -> str | None:
    """What is wrong with the value of an entry's key, or None."""
    if key == "source":
        return None if isinstance(v, str) and v.strip() else f"must be a non-empty text, got {v!r}"
    if key == "target":
        ok = (isinstance(v, str) and v) or _is_int(v)
        return None if ok else f"must be a column name or a 0-based position, got {v!r}"
    if key == "positive":
        ok = isinstance(v, (str, int, float)) and not isinstance(v, bool)
        return None if ok else f"must be a label value (text or number), got {v!r}"
    if key == "drop":
        return _check_list(v, lambda x: isinstance(x, str) and x, "column names")
    if key == "labels":
        return None if v in LABELS else f"must be one of {', '.join(LABELS)}, got {v!r}"
    if key == "rows":
        return None if _is_int(v) and v >= 1 else f"must be a positive integer, got {v!r}"
    if key == "missing":
        ok = v in MISSING_POLICIES
        return None if ok else f"must be one of {', '.join(MISSING_POLICIES)}, got {v!r}"
    raise AssertionError(key)


def _grid_problem(key: str, v: object) -> str | None:
    if key == "activations":
        problem = _check_list(v, lambda x: isinstance(x, str) and x.strip(), "names or formulas")
        return problem or _activations_problem(v)
    if key == "widths":
        return _check_list(v, lambda x: _is_int(x) and 1 <= x <= 100_000, "widths (1-100000)")
    if key == "heavy_widths":
        if v == "none":
            return None
        return _check_list(v, lambda x: _is_int(x) and 1 <= x <= 100_000, "widths, or 'none'")
    if key == "seeds":
        return _check_list(v, lambda x: _is_int(x) and 0 <= x < 2**32, "seeds (0 to 2**32-1)")
    if key == "epochs":
        ok = v == "auto" or (_is_int(v) and v >= 1)
        return None if ok else f"must be a positive integer or 'auto', got {v!r}"
    if key == "discovery":
        ok = v in DISCOVERY_METHODS
        return None if ok else f"must be one of {', '.join(DISCOVERY_METHODS)}, got {v!r}"
    raise AssertionError(key)


def _activations_problem(values: list[str]) -> str | None:
    from symact.formula import FormulaError
    from symact.formula.named import NAMED_ACTIVATIONS
    from symact.models.spec import canonical_activation

    seen = []
    for v in values:
        try:
            canonical = canonical_activation(v)
        except FormulaError as exc:
            return (
                f"holds {v!r}, neither a named activation ({', '.join(NAMED_ACTIVATIONS)}) "
                f"nor a formula of x: {exc}"
            )
        if canonical in seen:
            return f"lists {v!r} twice (as {canonical})"
        seen.append(canonical)
    return None


# --------------------------------------------------------------------------- loading


def load_suite_file(
    path: str | os.PathLike[str], data_dir: str | os.PathLike[str] | None = None
) -> SuiteFile:
    """Read and validate a suite file; a DataError listing every mistake (one per line)."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise DataError(f"suite file not found: {path}; name a .toml file") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a folder; name a suite file (.toml)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read the suite file {path}: {exc}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"{path}: not valid TOML: {exc}") from None
    problems: list[str] = []
    for key in doc:
        if key not in _TOP_KEYS:
            problems.append(f"{path}: {_did_you_mean(key, _TOP_KEYS)}")
    grid = _read_grid(path, doc.get("grid", {}), problems)
    entries = doc.get("dataset")
    specs: list[DataSpec] = []
    if not isinstance(entries, list) or not entries:
        problems.append(
            f"{path}: no datasets; add at least one [[dataset]] table with a source key"
        )
    else:
        folder = data_home(data_dir) if data_dir is not None else None
        for i, entry in enumerate(entries, 1):
            spec = _read_entry(path, i, entry, folder, problems)
            if spec is not None:
                specs.append(spec)
        _check_distinct(path, specs, problems)
    if problems:
        raise DataError("\nerror: ".join(problems))
    return SuiteFile(path, tuple(specs), grid)


def _read_grid(path: Path, grid: Any, problems: list[str]) -> SuiteGrid:
    if not isinstance(grid, dict):
        problems.append(f"{path}: grid must be a table ([grid]), got {grid!r}")
        return SuiteGrid()
    values: dict[str, Any] = {}
    for key, v in grid.items():
        if key not in _GRID_KEYS:
            problems.append(f"{path}: [grid]: {_did_you_mean(key, _GRID_KEYS)}")
            continue
        problem = _grid_problem(key, v)
        if problem:
            problems.append(f"{path}: [grid]: {key} {problem}")
            continue
        values[key] = tuple(v) if isinstance(v, list) else v
    return SuiteGrid(**values)


def _read_entry(
    path: Path, i: int, entry: Any, folder: Path | None, problems: list[str]
) -> DataSpec | None:
    if not isinstance(entry, dict):
        problems.append(f"{path}: dataset {i} must be a table ([[dataset]]), got {entry!r}")
        return None
    source = entry.get("source")
    where = f"{path}: dataset {i}" + (f" ({source})" if isinstance(source, str) else "")
    before = len(problems)
    for key, v in entry.items():
        if key not in _ENTRY_KEYS:
            problems.append(f"{where}: {_did_you_mean(key, _ENTRY_KEYS)}")
        elif problem := _entry_problem(key, v):
            problems.append(f"{where}: {key} {problem}")
    if "source" not in entry:
        problems.append(f"{where}: no source key; name a file, a registry dataset or openml:ID")
    if len(problems) > before:
        return None
    name = _resolve_source(where, source, path.parent, folder, problems)
    if name is None:
        return None
    file_keys = [k for k in ("target", "drop") if k in entry]
    if resolve_name(name) is not None and (file_keys or "positive" in entry):
        key = (file_keys or ["positive"])[0]
        problems.append(
            f"{where}: {key} applies to files and OpenML datasets; {source!r} is a registry "
            "dataset whose label rule is fixed: remove it"
        )
        return None
    if "positive" in entry and entry.get("labels") == "all":
        problems.append(f"{where}: positive makes the task binary; remove it or labels = 'all'")
        return None
    options = {k: entry[k] for k in ("rows", "target", "labels", "missing") if k in entry}
    if "positive" in entry:
        options["positive"] = str(entry["positive"])
    if "drop" in entry:
        options["drop"] = tuple(entry["drop"])
    return DataSpec(name, **options)


def _resolve_source(
    where: str, source: str, beside: Path, folder: Path | None, problems: list[str]
) -> str | None:
    """The DataSpec name of a source: a registry key, ``openml:ID``, or the file's path."""
    source = source.strip()
    if source.lower().startswith("openml:"):
        try:
            return parse_openml_source(source)
        except DataError as exc:
            problems.append(f"{where}: source {exc}")
            return None
    key = resolve_name(source)
    if key is not None:
        return key
    given = Path(source).expanduser()
    candidates = [given] if given.is_absolute() else [beside / given]
    if not given.is_absolute() and folder is not None:
        candidates.append(folder / given)
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    looked = " and ".join(str(c.parent) for c in candidates)
    hint = "" if folder is not None else "; pass --data-dir with the folder holding it"
    problems.append(
        f"{where}: source {source!r}: no such file in {looked}{hint} (a source is a file, a "
        "registry dataset or openml:ID)"
    )
    return None


def _check_distinct(path: Path, specs: list[DataSpec], problems: list[str]) -> None:
    """Two entries the tables would show under one label (the same file twice, say)."""
    from symact.experiments.suites import dataset_label

    seen: dict[str, str] = {}
    for spec in specs:
        label = dataset_label(spec.name)
        if label in seen:
            problems.append(
                f"{path}: datasets {seen[label]!r} and {spec.name!r} would both be called "
                f"{label} in the tables; list each dataset once (rename a copy of a file)"
            )
        else:
            seen[label] = spec.name
